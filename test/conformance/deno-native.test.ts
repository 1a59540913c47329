import { addConformanceTests } from './suite.ts';

addConformanceTests('deno-native');
