using Npgsql;

using PunkGrid.Bench.Shared;

namespace PunkGrid.Bench.ChaosSoak;

/// <summary>The faults the soak injects: the fault tests' list, drawn at random.</summary>
public enum FaultKind
{
    KillSilo,
    FreezeSilo,
    PauseDatabase,
    RestartDatabase,
    KillDuringCheckpointWrite,
    KillEverySilo,
    PoisonJob,
}

/// <summary>Injects one fault at a time and brings the cluster back as an operator's supervisor would (dead silos restart on their address).</summary>
public sealed class FaultInjector(LocalCluster cluster, Workload workload, Random random, TextWriter log)
{
    private static readonly (FaultKind Kind, int Weight)[] Weights =
    [
        (FaultKind.KillSilo, 4), (FaultKind.FreezeSilo, 3), (FaultKind.PauseDatabase, 2), (FaultKind.RestartDatabase, 2),
        (FaultKind.KillDuringCheckpointWrite, 2), (FaultKind.KillEverySilo, 1), (FaultKind.PoisonJob, 1),
    ];

    public Dictionary<FaultKind, int> Injected { get; } = Enum.GetValues<FaultKind>().ToDictionary(k => k, _ => 0);

    public DateTime LastFaultEnded { get; private set; } = DateTime.UtcNow;

    private TimeSpan PastLease => cluster.LeaseTimeout + TimeSpan.FromSeconds(4);

    public FaultKind Draw()
    {
        var roll = random.Next(Weights.Sum(w => w.Weight));
        foreach (var (kind, weight) in Weights)
        {
            if ((roll -= weight) < 0)
            {
                return kind;
            }
        }
        return FaultKind.KillSilo;
    }

    public async Task InjectAsync(FaultKind kind, CancellationToken cancellation)
    {
        var live = cluster.Silos.Where(s => s.Alive && !s.Frozen).ToList();
        var victim = live.Count == 0 ? null : live[random.Next(live.Count)];
        await log.WriteLineAsync($"{DateTime.UtcNow:HH:mm:ss} fault: {kind}{(victim is null ? "" : $" ({victim.Name})")}");
        switch (kind)
        {
            case FaultKind.KillSilo when victim is not null:
                victim.Kill();
                await Task.Delay(TimeSpan.FromSeconds(random.Next(2, 15)), cancellation);
                await cluster.RestartAsync(victim);
                break;
            case FaultKind.FreezeSilo when victim is not null:
                victim.Freeze();
                await Task.Delay(PastLease, cancellation);
                victim.Thaw();
                break;
            case FaultKind.PauseDatabase:
                await cluster.PauseDatabaseAsync(pause: true);
                try
                {
                    await Task.Delay(PastLease, cancellation);
                }
                finally
                {
                    await cluster.PauseDatabaseAsync(pause: false);
                }
                break;
            case FaultKind.RestartDatabase:
                await cluster.StopDatabaseAsync();
                await Task.Delay(PastLease, cancellation);
                await cluster.StartDatabaseAsync();
                break;
            case FaultKind.KillDuringCheckpointWrite:
                await KillDuringCheckpointWriteAsync(cancellation);
                break;
            case FaultKind.KillEverySilo:
                foreach (var silo in cluster.Silos)
                {
                    silo.Kill();
                }
                await Task.Delay(TimeSpan.FromSeconds(10), cancellation);
                foreach (var silo in cluster.Silos)
                {
                    await cluster.RestartAsync(silo);
                }
                break;
            case FaultKind.PoisonJob:
                await workload.SubmitPoisonAsync(cancellation);
                break;
            default:
                return; // no live silo to hurt
        }
        Injected[kind]++;
        LastFaultEnded = DateTime.UtcNow;
    }

    /// <summary>
    /// Holds the checkpoints table (SHARE mode: inserts wait, reads go on) until a checkpoint write waits inside the server,
    /// kills the silo writing it, then lets go: the write commits whole or not at all.
    /// </summary>
    private async Task KillDuringCheckpointWriteAsync(CancellationToken cancellation)
    {
        await using var holder = await cluster.Database.OpenConnectionAsync(cancellation);
        await using var transaction = await holder.BeginTransactionAsync(cancellation);
        await using (var hold = new NpgsqlCommand("lock table checkpoints in share mode", holder, transaction))
        {
            await hold.ExecuteNonQueryAsync(cancellation);
        }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string? writer = null;
        while (writer is null && DateTime.UtcNow < deadline)
        {
            // Each silo names its connections "punkgrid NAME".
            await using var find = cluster.Database.CreateCommand(
                "select substr(application_name, 10) from pg_stat_activity where query like '%insert into checkpoints%' and wait_event_type = 'Lock' " +
                "and starts_with(application_name, 'punkgrid ') limit 1");
            writer = await find.ExecuteScalarAsync(cancellation) as string;
            if (writer is null)
            {
                await Task.Delay(100, cancellation);
            }
        }
        var silo = writer is null ? null : cluster.Silos.FirstOrDefault(s => s.Name == writer);
        silo?.Kill();
        await transaction.RollbackAsync(cancellation);
        if (silo is not null)
        {
            await Task.Delay(TimeSpan.FromSeconds(3), cancellation);
            await cluster.RestartAsync(silo);
        }
    }

    /// <summary>After the soak: everything thawed, resumed and running again.</summary>
    public async Task HealAsync()
    {
        await cluster.PauseDatabaseAsync(pause: false);
        foreach (var silo in cluster.Silos)
        {
            silo.Thaw();
            if (!silo.Alive)
            {
                await cluster.RestartAsync(silo);
            }
        }
    }
}
