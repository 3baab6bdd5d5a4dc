// Package batch is zpipe's Go API for work without a manifest: Batch
// parses, formats or converts many in-memory items through the same record
// loop and executor that run a pipeline's stages; Scheduler runs tasks by
// priority on a bounded number of slots; Pool lends out reusable
// resources.
package batch
