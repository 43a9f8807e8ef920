// The index contract (test/support/index-contract.ts) against the in-memory index; test/integration runs the
// same cases against the DynamoDB adapters.
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { indexContract } from '../../support/index-contract';

indexContract('in memory', () => new MemoryMailIndex(() => new Date('2026-01-01T00:00:00Z')));
