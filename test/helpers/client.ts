export interface GraphQLErrorJson {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; rcCode?: number; fields?: string[]; keys?: string[]; [k: string]: unknown };
}
export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: GraphQLErrorJson[];
}

export const bearer = (token: string) => `Bearer ${token}`;
export const basic = (appKey: string, appSecret: string) => `Basic ${Buffer.from(`${appKey}:${appSecret}`).toString('base64')}`;

/** A minimal GraphQL-over-HTTP client for tests: real HTTP requests against the real server. */
export class GraphQLClient {
  constructor(
    readonly url: string,
    readonly authorization?: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async request<T = any>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T> & { status: number }> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(this.authorization ? { authorization: this.authorization } : {}),
        ...this.headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as GraphQLResponse<T>;
    return { ...body, status: response.status };
  }

  /** The data of a request that must succeed; throws with the errors otherwise. */
  async ok<T = any>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const result = await this.request<T>(query, variables);
    if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    return result.data;
  }

  /** The first error of a request that must fail. */
  async fails(query: string, variables?: Record<string, unknown>): Promise<GraphQLErrorJson> {
    const result = await this.request(query, variables);
    if (!result.errors?.length) throw new Error(`expected an error, got ${JSON.stringify(result.data)}`);
    return result.errors[0]!;
  }

  withHeaders(headers: Record<string, string>): GraphQLClient {
    return new GraphQLClient(this.url, this.authorization, { ...this.headers, ...headers });
  }
}
