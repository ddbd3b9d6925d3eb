import '../schema/builder.ts';
