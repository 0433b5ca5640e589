using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Grains;

/// <summary>Retention of old runs, asked for by an operator (<c>punkgrid gc</c>); the work is <see cref="RetentionStore"/>'s.</summary>
[StatelessWorker]
public sealed class RetentionGrain(RetentionStore store) : Grain, IRetentionGrain
{
    public Task<RetentionReport?> Collect(RetentionRequest request)
    {
        if (request.OlderThan <= TimeSpan.Zero && request.Cutoff is null)
        {
            throw new ArgumentException($"older-than {request.OlderThan} is not allowed: a positive age (e.g. 30d, 12h)");
        }
        return store.CollectAsync(request with { MaxRuns = Math.Clamp(request.MaxRuns, 1, 1000) });
    }
}
