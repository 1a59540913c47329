import { addProtectionTests } from './suite.ts';

addProtectionTests('deno');
