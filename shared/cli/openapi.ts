/**
 * Prints the OpenAPI 3.1 document of the capture and quarantine API:
 * `npx tsx shared/cli/openapi.ts [--server https://api.example.com] > openapi.json`
 */
import { parseArgs } from 'node:util';
import { captureOpenApiDocument } from '../capture/openapi';

const { values } = parseArgs({ options: { server: { type: 'string', multiple: true } } });
process.stdout.write(`${JSON.stringify(captureOpenApiDocument({ servers: values.server ?? [] }), null, 2)}\n`);
