// The experiment -> RunSpec mapping lives with the experiment schema; re-exported here so that
// everything touching generated types goes through src/worker.
export { toRunSpec, fromRunSpec } from "../experiment/toProto.js";
