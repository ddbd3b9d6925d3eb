declare module 'autocannon' {
  function autocannon(options: Record<string, unknown>, callback: (error: unknown, result: any) => void): unknown;
  export default autocannon;
}
