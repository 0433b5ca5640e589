using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The model registry on a real PostgreSQL: versions numbered per model, registering twice adds nothing, aliases checked
/// against versions, promote-if-better moving an alias only for a better model (both scores recorded, once per run), and a
/// registered model's run protected from deletion.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ModelRegistryTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;
    private ModelRegistryStore registry = null!;

    private static readonly WorkerRegistration W1 = new("w1", "silo-1", "cpu", 16, 1024);

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "registry");
        registry = new ModelRegistryStore(database.DataSource);
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    /// <summary>A trait sweep whose jobs end with these held-out F1s (null: the job fails, so it has no model).</summary>
    private async Task SweepAsync(string runId, string? promote, params (string Trait, double? F1)[] traits)
    {
        var jobs = traits.Select(t => new JobStore.NewJob($"{runId}.{t.Trait.ToLowerInvariant()}", new JobSpec(JobKinds.Trait, t.Trait, "quick", new Dictionary<string, string>()), 0, 1, "any")).ToList();
        Assert.True(await database.Jobs.CreateRunAsync(runId,
            new RunSpec(JobKinds.Trait, traits.Select(t => t.Trait).ToList(), false, "quick", new Dictionary<string, string>(), 0, promote), jobs));
        var leases = await database.Queue.LeaseAsync(W1, jobs.Count);
        foreach (var (trait, f1) in traits)
        {
            var lease = leases.Single(l => l.Spec.Target == trait);
            if (f1 is { } score)
            {
                await database.Artifacts.SaveAsync(lease.JobId, lease.Attempt, "model.bin", "application/octet-stream", [1, 2, 3]);
                Assert.Equal(JobQueue.ReportOutcome.Applied, await database.Queue.SucceedAsync(lease.JobId, lease.Attempt,
                    $$"""{"f1": {{score.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}""", new Dictionary<string, double> { ["f1"] = score }));
            }
            else
            {
                Assert.Equal(JobState.Failed, await database.Queue.FailAsync(lease.JobId, lease.Attempt, "boom", retryable: false));
            }
        }
    }

    [Fact]
    public async Task A_runs_models_become_numbered_versions_once_and_aliases_point_only_at_versions_that_exist()
    {
        await SweepAsync("sweep-1", null, ("Earring", 0.8), ("Hoodie", 0.6), ("Beanie", null));
        var first = (await registry.RegisterAsync("sweep-1"))!;
        Assert.Equal([("trait/Earring", 1, 0.8), ("trait/Hoodie", 1, 0.6)], first.Select(v => (v.Model, v.Version, v.Metric!.Value)));
        Assert.All(first, v => Assert.Equal(("f1", true, "sweep-1"), (v.MetricName, v.HigherIsBetter, v.RunId)));
        Assert.Empty((await registry.RegisterAsync("sweep-1"))!); // registered before: nothing new
        Assert.Null(await registry.RegisterAsync("no-such-run"));

        await SweepAsync("sweep-2", null, ("Earring", 0.7));
        Assert.Equal([("trait/Earring", 2)], (await registry.RegisterAsync("sweep-2"))!.Select(v => (v.Model, v.Version)));

        Assert.Null(await registry.SetAliasAsync("trait/Earring", "production", 1, "operator"));
        Assert.Equal("model 'trait/Earring' has no version 3: its versions are 1, 2", await registry.SetAliasAsync("trait/Earring", "production", 3, "operator"));
        Assert.StartsWith("unknown model 'trait/Wings'", await registry.SetAliasAsync("trait/Wings", "production", 1, "operator"));
        Assert.Equal("sweep-1.earring", await registry.ResolveAsync("trait/Earring", "production"));
        Assert.Null(await registry.ResolveAsync("trait/Hoodie", "production"));

        var earring = Assert.Single(await registry.ListAsync("trait/Earring"));
        Assert.Equal([2, 1], earring.Versions.Select(v => v.Version));
        Assert.Equal(1, earring.Aliases["production"]);
        Assert.Equal(["production"], earring.Versions.Single(v => v.Version == 1).Aliases);

        // A registered model's run cannot be deleted (its model would go with it); an unregistered run can.
        await using var delete = database.DataSource.CreateCommand("delete from runs where run_id = @run");
        delete.Parameters.AddWithValue("run", "sweep-1");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => delete.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.ForeignKeyViolation, refused.SqlState);
        Assert.NotNull(await database.Artifacts.ReadAsync("sweep-1.earring", "model.bin"));
    }

    [Fact]
    public async Task Promote_if_better_moves_the_alias_only_for_better_models_and_records_both_scores_once()
    {
        await SweepAsync("baseline", null, ("Earring", 0.9), ("Hoodie", 0.5));
        await registry.RegisterAsync("baseline");
        Assert.Null(await registry.SetAliasAsync("trait/Earring", "production", 1, "operator"));
        Assert.Null(await registry.SetAliasAsync("trait/Hoodie", "production", 1, "operator"));

        // The retraining: Earring worse, Hoodie better, Beanie new, Smile failed (no model, no decision).
        await SweepAsync("retrain", "production", ("Earring", 0.85), ("Hoodie", 0.7), ("Beanie", 0.6), ("Smile", null));
        var decisions = await registry.PromoteEndedRunsAsync();
        Assert.Equal(
            [
                ("trait/Beanie", 1, 0.6, (int?)null, (double?)null, true, "no version had the alias"),
                ("trait/Earring", 2, 0.85, 1, 0.9, false, "not better than the version the alias pointed at"),
                ("trait/Hoodie", 2, 0.7, 1, 0.5, true, "better than the version the alias pointed at"),
            ],
            decisions.Select(d => (d.Model, d.CandidateVersion, d.CandidateMetric!.Value, d.CurrentVersion, d.CurrentMetric, d.Promoted, d.Reason)));
        Assert.All(decisions, d => Assert.Equal(("retrain", "production"), (d.RunId, d.Alias)));
        Assert.Equal("baseline.earring", await registry.ResolveAsync("trait/Earring", "production"));
        Assert.Equal("retrain.hoodie", await registry.ResolveAsync("trait/Hoodie", "production"));
        Assert.Equal("retrain.beanie", await registry.ResolveAsync("trait/Beanie", "production"));
        Assert.Equal(3, (await registry.ResolveAllAsync("trait/", "production", prefix: true)).Count);

        Assert.Empty(await registry.PromoteEndedRunsAsync()); // once per run
        Assert.Equal(3, (await registry.PromotionsAsync(null, 100)).Count);
        Assert.Single(await registry.PromotionsAsync("trait/Hoodie", 100));
    }

    [Fact]
    public async Task A_run_is_promoted_only_once_it_has_ended()
    {
        var job = new JobStore.NewJob("pending.earring", new JobSpec(JobKinds.Trait, "Earring", "quick", new Dictionary<string, string>()), 0, 1, "any");
        Assert.True(await database.Jobs.CreateRunAsync("pending", new RunSpec(JobKinds.Trait, ["Earring"], false, "quick", new Dictionary<string, string>(), 0, "production"), [job]));
        Assert.Empty(await registry.PromoteEndedRunsAsync()); // queued: not yet
        var lease = Assert.Single(await database.Queue.LeaseAsync(W1, 1));
        Assert.Empty(await registry.PromoteEndedRunsAsync()); // running: not yet
        await database.Artifacts.SaveAsync(lease.JobId, lease.Attempt, "model.bin", "application/octet-stream", [1]);
        await database.Queue.SucceedAsync(lease.JobId, lease.Attempt, """{"f1": 0.5}""", new Dictionary<string, double>());
        var promoted = Assert.Single(await registry.PromoteEndedRunsAsync());
        Assert.True(promoted.Promoted);
        Assert.Equal("pending.earring", await registry.ResolveAsync("trait/Earring", "production"));
    }
}
