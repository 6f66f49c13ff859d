// The front's configuration: its schema lives with the host table that holds it (config/front-schema.ts).
export * from '../config/front-schema.ts';
