/**
 * One storage seam: S3 object commands are sent by shared/storage/ only (plus the client factory and
 * the local emulator code). Everything else reads and writes objects through the ObjectStore
 * interface, so it runs on the in-memory store in tests and gets the s3rver emulation locally.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SOURCE_DIRS = ['shared', 'functions', 'models'];
const ALLOWED = [/^shared\/storage\//, /^shared\/aws\/clients\.ts$/, /^shared\/local\//];
/** Files that still send S3 commands themselves, each with its reason (drop an entry once its file is moved to the seam). */
const EXCEPTIONS: Record<string, string> = {};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path.split(sep).join('/')] : [];
  });
}

/** Raw S3 access in a file: commands imported from @aws-sdk/client-s3, a dynamic import of it, or @aws-sdk/lib-storage. */
function rawS3Uses(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['"]@aws-sdk\/client-s3['"]/g)) {
    const names = (match[1] ?? '')
      .split(',')
      .map((name) => name.trim().replace(/^type\s+/, ''))
      .filter(Boolean);
    const typeOnlyClause = /^import\s+type\b/.test(match[0]);
    for (const name of names) {
      const imported = name.split(/\s+as\s+/)[0] as string;
      if (!typeOnlyClause && !name.startsWith('type ') && imported.endsWith('Command')) found.push(imported);
    }
  }
  if (
    /import\s*\(\s*['"]@aws-sdk\/client-s3['"]\s*\)|require\(\s*['"]@aws-sdk\/client-s3['"]\s*\)|import\s+\*\s+as\s+\w+\s+from\s+['"]@aws-sdk\/client-s3['"]/.test(
      text,
    )
  )
    found.push('@aws-sdk/client-s3 (whole module)');
  if (/['"]@aws-sdk\/lib-storage['"]/.test(text)) found.push('@aws-sdk/lib-storage');
  return found;
}

describe('storage seam', () => {
  it('recognises raw S3 commands, and ignores types and other services', () => {
    // Prepare
    const raw = "import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';\nimport { GetCommand } from '@aws-sdk/lib-dynamodb';";
    const typesOnly = "import type { S3Client, PutObjectCommandInput } from '@aws-sdk/client-s3';\nimport { S3Client as C } from '@aws-sdk/client-s3';";

    // Act
    const [rawUses, typeUses, upload] = [rawS3Uses(raw), rawS3Uses(typesOnly), rawS3Uses("import { Upload } from '@aws-sdk/lib-storage';")];

    // Assess
    expect(rawUses).toEqual(['GetObjectCommand']);
    expect(typeUses).toEqual([]);
    expect(upload).toEqual(['@aws-sdk/lib-storage']);
    expect(rawS3Uses(readFileSync(join(ROOT, 'shared/storage/s3-object-store.ts'), 'utf8'))).toContain('PutObjectCommand');
  });

  it('finds no raw S3 command outside shared/storage/, shared/aws/clients.ts and shared/local/', () => {
    // Prepare
    const files = SOURCE_DIRS.flatMap(sourceFiles).filter((file) => !ALLOWED.some((re) => re.test(file)) && !(file in EXCEPTIONS));

    // Act
    const offenders = files.flatMap((file) => {
      const uses = rawS3Uses(readFileSync(join(ROOT, file), 'utf8'));
      return uses.length ? [`${relative('.', file)}: ${uses.join(', ')}`] : [];
    });

    // Assess
    expect(files.length).toBeGreaterThan(50);
    expect(offenders, 'use the ObjectStore (shared/storage/object-store.ts) instead of sending S3 commands').toEqual([]);
  });
});
