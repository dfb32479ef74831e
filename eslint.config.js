// Flat ESLint config: typescript-eslint's type-aware rules, Prettier owns formatting.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** Pure code may not reach I/O: desired state and XML stay testable without a host. */
const pureCodeImports = {
  patterns: [
    {
      group: ['**/libvirt/binding*', '**/libvirt/native*'],
      message: 'pure code must not call the binding',
    },
    {
      group: [
        'node:fs',
        'node:fs/*',
        'fs',
        'node:child_process',
        'node:net',
        'node:http',
        'node:https',
      ],
      message: 'pure code must not do I/O',
    },
    { group: ['@kubernetes/client-node'], message: 'pure code must not talk to the API server' },
  ],
};

/**
 * Controllers and the CLI see the runtime through its public index only, never the files
 * behind it: the folders under src/runtime/ may move without touching a controller.
 */
const runtimeIndexOnly = {
  group: ['**/runtime/*', '**/runtime/**/*', '!**/runtime/index.js'],
  message: 'import the runtime from src/runtime/index.js, not the files behind it',
};

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'build/',
      'node_modules/',
      '.cache/',
      'bin/',
      'coverage/',
      'test/controlplane/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['src/controllers/**/*.ts', 'src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [runtimeIndexOnly] }] },
  },
  {
    // Listed after the block above, whose rule options these replace: they carry its pattern.
    files: [
      'src/libvirt/xml/**/*.ts',
      'src/**/desired.ts',
      'src/**/status.ts',
      'src/maas/controller/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [...pureCodeImports.patterns, runtimeIndexOnly] },
      ],
    },
  },
  {
    // The N-API boundary is the one place `any` is allowed in src/.
    files: ['src/libvirt/binding.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
  },
  prettier,
);
