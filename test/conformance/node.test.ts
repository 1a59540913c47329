import { addConformanceTests } from './suite.ts';

addConformanceTests('node');
