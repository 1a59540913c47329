import { addProtectionTests } from './suite.ts';

addProtectionTests('node');
