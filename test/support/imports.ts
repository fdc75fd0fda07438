// The relative and bare module specifiers a source file imports: static
// import/export ... from, side-effect imports and literal dynamic imports.
// On TypeScript sources `import type` counts; on compiled JavaScript tsc has
// erased it, so what remains is what loads at run time.
export function moduleSpecifiers(src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}
