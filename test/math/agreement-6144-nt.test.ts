// Cross-backend agreement, 6144 bits (nt); the suite itself is in test/helpers/agreement.ts.
// 2,500 inputs per operation: every planted corner kept, fewer random inputs (AGREEMENT_INPUTS_LARGE there).
import { agreementSuite } from '../helpers/agreement.js';

for (const bits of [6144]) agreementSuite(bits, 'nt');
