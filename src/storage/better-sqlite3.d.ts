// Minimal typings of the parts of better-sqlite3 12 the ledger uses (@types/better-sqlite3 is not a
// dependency; adding one is the lead's call). Keep in step with node_modules/better-sqlite3/lib.
declare module 'better-sqlite3' {
  class Database {
    constructor(filename: string, options?: Database.Options);
    readonly open: boolean;
    readonly inTransaction: boolean;
    readonly name: string;
    prepare(sql: string): Database.Statement;
    exec(sql: string): Database;
    pragma(sql: string, options?: { simple?: boolean }): unknown;
    backup(filename: string): Promise<{ totalPages: number; remainingPages: number }>;
    close(): Database;
  }
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      /** Rows come back as their first column's value. */
      pluck(toggle?: boolean): Statement;
    }
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      timeout?: number;
    }
  }
  export = Database;
}
