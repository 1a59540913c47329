// Lint is part of `npm test`. Its main job here is architectural: the core in src/ speaks only
// web-standard APIs, and each runtime's own APIs stay in runtimes/ (docs/behaviour.md, Runtimes).
import tseslint from 'typescript-eslint';

const why =
  'src/ is the runtime-agnostic core: it may use only web-standard APIs. Runtime APIs live in runtimes/ and are handed to the core as capabilities.';

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', 'bench/results/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/legacy.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: why },
            { group: ['bun', 'bun:*', '@hono/node-server', '@hono/node-server/*', 'undici'], message: why },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Bun', message: why },
        { name: 'Deno', message: why },
        { name: 'process', message: why },
        { name: 'Buffer', message: why },
        { name: 'require', message: why },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'No default exports in src/: name what you export.' },
      ],
    },
  },
);
