import { ALL_CLIENTS } from './support/clients';
import { describeClientCases } from './support/client-cases';

// Every client the README names, against the simulated gateway: one span per call with the
// design's attributes, the body's request_id, errors and rate-limit state, and no key anywhere.
describeClientCases(ALL_CLIENTS);
