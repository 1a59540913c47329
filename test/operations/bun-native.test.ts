import { addOperationsTests } from './suite.ts';

addOperationsTests('bun-native');
