import type { ZodError } from 'zod';
import type { FieldIssue } from './errors';

/** Turns zod issues into `{field, reason}` pairs with dotted paths (`batch.3.timestamp`). */
export function zodIssues(error: ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      return { field: keys.map((k) => (path ? `${path}.${k}` : k)).join(', '), reason: 'unknown field' };
    }
    return { field: path || '(root)', reason: issue.message };
  });
}
