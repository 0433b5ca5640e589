using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;

namespace PunkGrid.Server.Grains;

/// <summary>Read-only listings, served by any silo.</summary>
[StatelessWorker]
public sealed class CatalogGrain(JobStore store, JobQueue queue, TraitCatalog traits, IOptions<JobQueueOptions> scheduling) : Grain, ICatalogGrain
{
    public Task<Page<RunSummary>> ListRuns(int limit, string? after = null) => store.ListRunsAsync(Math.Clamp(limit, 1, 1000), after);

    public Task<IReadOnlyList<WorkerView>> ListWorkers() => store.ListWorkersAsync(scheduling.Value.LeaseTimeout);

    public Task<long> GetQueueDepth() => queue.DepthAsync();

    public Task<IReadOnlyList<string>> ListTraits() => Task.FromResult(traits.TraitNames);
}
