import { addConformanceTests } from './suite.ts';

addConformanceTests('bun-native');
