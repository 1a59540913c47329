import { addProtectionTests } from './suite.ts';

addProtectionTests('bun');
