// A compile-time proof that a zod schema's output is exactly a declared type,
// so a schema and the interface it validates cannot drift apart.

/** A and B are the same type, optional fields included (mutual assignability would miss those). */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Compiles only when T is true: `sameType<Same<z.output<typeof schema>, Type>>()`. */
export function sameType<T extends true>(_proof?: T): void {}
