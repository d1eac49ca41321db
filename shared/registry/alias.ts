/** Where an alias (champion, challenger) points: stored as models/<family>/aliases/<alias>.json and in its history. */
export interface AliasPointer {
  version: string;
  updatedAt: string;
  previous?: string;
  reason: string;
}
