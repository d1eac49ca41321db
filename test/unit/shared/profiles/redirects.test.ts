import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MissingEnvironmentError } from '../../../../shared/config/env';
import { loadMergeRedirects, MergeRedirectsIndexError, mergeRedirectsLoader } from '../../../../shared/profiles/redirects';

const ddbMock = mockClient(DynamoDBDocumentClient);
const TABLE = 'profiles-table';
const INDEX = 'by-merged-into';
const client = () => DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
/** A redirect item as the KEYS_ONLY index returns it: the table keys and the index key. */
const redirect = (from: string, to: string) => ({ pk: `PROFILE#${from}`, sk: 'PROFILE', mergedInto: to });

beforeEach(() => {
  ddbMock.reset();
});

describe('loadMergeRedirects', () => {
  it('reads every page of the index, passing each LastEvaluatedKey on, with the page size as Limit', async () => {
    // Prepare
    const page2Start = { pk: 'PROFILE#p_b', sk: 'PROFILE', mergedInto: 'p_c' };
    const page3Start = { pk: 'PROFILE#p_x', sk: 'PROFILE', mergedInto: 'p_y' };
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({ Items: [redirect('p_a', 'p_b'), redirect('p_b', 'p_c')], LastEvaluatedKey: page2Start })
      .resolvesOnce({ Items: [redirect('p_x', 'p_y')], LastEvaluatedKey: page3Start })
      .resolvesOnce({ Items: [redirect('p_m', 'p_n')] });

    // Act
    const loaded = await loadMergeRedirects(client(), TABLE, INDEX, { pageSize: 2 });

    // Assess
    const calls = ddbMock.commandCalls(ScanCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { TableName: TABLE, IndexName: INDEX, Limit: 2, ExclusiveStartKey: undefined },
      { TableName: TABLE, IndexName: INDEX, Limit: 2, ExclusiveStartKey: page2Start },
      { TableName: TABLE, IndexName: INDEX, Limit: 2, ExclusiveStartKey: page3Start },
    ]);
    expect(loaded.pages).toBe(3);
    expect(loaded.direct).toBe(4);
    expect(Object.fromEntries(loaded.redirects)).toEqual({ p_a: 'p_c', p_b: 'p_c', p_x: 'p_y', p_m: 'p_n' });
  });

  it('follows a chain split across pages to its final survivor, whatever the page order', async () => {
    // Prepare: p_1 → p_2 → p_3 → p_4, read newest first
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({ Items: [redirect('p_3', 'p_4')], LastEvaluatedKey: { pk: 'PROFILE#p_3', sk: 'PROFILE', mergedInto: 'p_4' } })
      .resolvesOnce({ Items: [redirect('p_2', 'p_3')], LastEvaluatedKey: { pk: 'PROFILE#p_2', sk: 'PROFILE', mergedInto: 'p_3' } })
      .resolvesOnce({ Items: [redirect('p_1', 'p_2')] });

    // Act
    const { redirects } = await loadMergeRedirects(client(), TABLE, INDEX);

    // Assess
    expect(Object.fromEntries(redirects)).toEqual({ p_1: 'p_4', p_2: 'p_4', p_3: 'p_4' });
  });

  it('reads an empty index as no redirects in one page (default page size 5000)', async () => {
    // Prepare
    ddbMock.on(ScanCommand).resolves({ Items: [] });

    // Act
    const loaded = await loadMergeRedirects(client(), TABLE, INDEX);

    // Assess
    expect(loaded).toMatchObject({ direct: 0, pages: 1, skipped: [] });
    expect(loaded.redirects.size).toBe(0);
    expect(ddbMock.commandCalls(ScanCommand)[0]?.args[0].input.Limit).toBe(5000);
  });

  it('keeps the valid redirects of a page and reports each item that is not one, naming the field', async () => {
    // Prepare
    ddbMock.on(ScanCommand).resolves({
      Items: [
        redirect('p_a', 'p_b'),
        { pk: 'IDENT#email#h', sk: 'LINK', mergedInto: 'p_z' },
        { pk: 'PROFILE#p_c', sk: 'HIST#merged#p_d', mergedInto: 'p_z' },
        { pk: 'PROFILE#p_e', sk: 'PROFILE', mergedInto: '' },
        { pk: 'PROFILE#p_f', sk: 'PROFILE', mergedInto: 'p_f' },
        { pk: 'PROFILE#', sk: 'PROFILE', mergedInto: 'p_z' },
        redirect('p_g', 'p_h'),
      ],
    });

    // Act
    const loaded = await loadMergeRedirects(client(), TABLE, INDEX);

    // Assess
    expect(Object.fromEntries(loaded.redirects)).toEqual({ p_a: 'p_b', p_g: 'p_h' });
    expect(loaded.skipped.map((s) => [s.key.pk, s.field])).toEqual([
      ['IDENT#email#h', 'pk'],
      ['PROFILE#p_c', 'sk'],
      ['PROFILE#p_e', 'mergedInto'],
      ['PROFILE#p_f', 'mergedInto'],
      ['PROFILE#', 'pk'],
    ]);
    expect(loaded.skipped[3]?.reason).toMatch(/names the profile itself/);
  });

  it('says the index is missing, naming index and table, when DynamoDB does not know it', async () => {
    // Prepare
    ddbMock.on(ScanCommand).rejects(Object.assign(new Error(`The table does not have the specified index: ${INDEX}`), { name: 'ValidationException' }));

    // Act
    const loading = loadMergeRedirects(client(), TABLE, INDEX);

    // Assess
    await expect(loading).rejects.toBeInstanceOf(MergeRedirectsIndexError);
    await expect(loading).rejects.toThrow(/index "by-merged-into" of table "profiles-table" does not exist/);
  });

  it('says the index is missing when the table itself is not found', async () => {
    // Prepare
    ddbMock.on(ScanCommand).rejects(Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException' }));

    // Act / Assess
    await expect(loadMergeRedirects(client(), TABLE, INDEX)).rejects.toThrow(MergeRedirectsIndexError);
  });

  it('passes other failures through unchanged (throttling on a later page is not a missing index)', async () => {
    // Prepare
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({ Items: [redirect('p_a', 'p_b')], LastEvaluatedKey: { pk: 'PROFILE#p_a', sk: 'PROFILE', mergedInto: 'p_b' } })
      .rejectsOnce(throttled);

    // Act / Assess
    await expect(loadMergeRedirects(client(), TABLE, INDEX)).rejects.toBe(throttled);
  });

  it('rejects a page size that is not a positive integer', async () => {
    await expect(loadMergeRedirects(client(), TABLE, INDEX, { pageSize: 0 })).rejects.toThrow(/pageSize: must be a positive integer/);
    expect(ddbMock.commandCalls(ScanCommand)).toHaveLength(0);
  });
});

describe('mergeRedirectsLoader', () => {
  it('reads table and index from the environment on first use and warns about skipped items', async () => {
    // Prepare
    ddbMock.on(ScanCommand).resolves({ Items: [redirect('p_a', 'p_b'), { pk: 'PROFILE#p_c', sk: 'LINK', mergedInto: 'p_d' }] });
    const warnings: unknown[] = [];
    const load = mergeRedirectsLoader(
      client,
      { warn: (message, details) => warnings.push({ message, details }) },
      {
        PROFILES_TABLE: TABLE,
        PROFILES_MERGED_INDEX: INDEX,
      },
    );

    // Act
    const loaded = await load();

    // Assess
    expect(ddbMock.commandCalls(ScanCommand)[0]?.args[0].input).toMatchObject({ TableName: TABLE, IndexName: INDEX });
    expect(Object.fromEntries(loaded.redirects)).toEqual({ p_a: 'p_b' });
    expect(warnings).toEqual([{ message: expect.stringMatching(/not redirects/), details: { count: 1, first: [expect.objectContaining({ field: 'sk' })] } }]);
  });

  it('names the missing environment variable', async () => {
    // Prepare
    const load = mergeRedirectsLoader(client, undefined, { PROFILES_TABLE: TABLE });

    // Act / Assess
    await expect(load()).rejects.toThrow(MissingEnvironmentError);
    await expect(load()).rejects.toThrow(/PROFILES_MERGED_INDEX/);
    expect(ddbMock.commandCalls(ScanCommand)).toHaveLength(0);
  });
});
