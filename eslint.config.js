import tseslint from 'typescript-eslint';

const electronOnly = {
  paths: [{ name: 'electron', message: 'Electron stays in src/main/index.ts, src/main/ipc.ts and src/preload/.' }],
};
const nodeBuiltins = {
  patterns: [{ group: ['node:*'], message: 'Renderer and shared code run in a browser: no node:* imports.' }],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'out/**', 'dist/**', '.data/**', 'supabase/functions/**', 'test-results/**', '.tmp/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    ignores: ['src/main/index.ts', 'src/main/ipc.ts', 'src/preload/**'],
    rules: { 'no-restricted-imports': ['error', electronOnly] },
  },
  {
    files: ['src/renderer/**/*.{ts,tsx}', 'src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { ...electronOnly, ...nodeBuiltins }],
    },
  },
  {
    files: ['src/local/**/*.ts', 'src/main/encoder/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          ...electronOnly,
          patterns: [{ group: ['**/renderer/**'], message: 'Node-side code never imports the renderer.' }],
        },
      ],
    },
  },
);
