using Npgsql;

using PunkGrid.Bench.Shared;

namespace PunkGrid.Bench.ChaosSoak;

/// <summary>The faults the soak injects: the fault tests' list, drawn at random (on hosts, with issue 29's partitions and failover).</summary>
public enum FaultKind
{
    KillSilo,
    FreezeSilo,
    PauseDatabase,
    RestartDatabase,
    KillDuringCheckpointWrite,
    KillEverySilo,
    PoisonJob,

    // On hosts of their own (--hosts): issue 29's partitions and failover.
    CutSiloFromDatabase,
    CutSiloFromPeers,
    CutEverySiloFromDatabase,
    FailOverDatabase,
}

/// <summary>Injects one fault at a time and brings the cluster back as an operator's supervisor would (dead silos restart on their address).</summary>
public sealed class FaultInjector(LocalCluster cluster, Workload workload, Random random, TextWriter log)
{
    private static readonly (FaultKind Kind, int Weight)[] LoopbackWeights =
    [
        (FaultKind.KillSilo, 4), (FaultKind.FreezeSilo, 3), (FaultKind.PauseDatabase, 2), (FaultKind.RestartDatabase, 2),
        (FaultKind.KillDuringCheckpointWrite, 2), (FaultKind.KillEverySilo, 1), (FaultKind.PoisonJob, 1),
    ];

    /// <summary>On hosts: the same, and the partitions and the failover of issue 29 about as often as the rest together.</summary>
    private static readonly (FaultKind Kind, int Weight)[] HostedWeights =
    [
        .. LoopbackWeights,
        (FaultKind.CutSiloFromDatabase, 4), (FaultKind.CutSiloFromPeers, 3), (FaultKind.CutEverySiloFromDatabase, 3), (FaultKind.FailOverDatabase, 3),
    ];

    private (FaultKind Kind, int Weight)[] Weights => cluster.Hosted ? HostedWeights : LoopbackWeights;

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
            case FaultKind.CutSiloFromDatabase when victim is not null:
                // (g): it still reaches its peers; its leases expire and its jobs go elsewhere.
                await cluster.CutAsync(victim.Name, cluster.PrimaryHost, cluster.StandbyHost);
                await Task.Delay(PastLease, cancellation);
                await cluster.HealAsync(victim.Name);
                break;
            case FaultKind.CutSiloFromPeers when victim is not null:
                // (h): it still reaches the database; membership declares it dead and Orleans stops it (the supervisor loop
                // restarts it on its address), or the cut heals first.
                await cluster.CutAsync(victim.Name, [.. cluster.Silos.Where(s => s != victim).Select(s => s.Name)]);
                for (var waited = 0; waited < 60 && victim.Alive; waited++)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
                }
                await cluster.HealAsync(victim.Name);
                break;
            case FaultKind.CutEverySiloFromDatabase:
                // (j): shorter than a lease, longer than the lease clock's outage gap.
                await cluster.CutAsync(cluster.PrimaryHost, [.. cluster.Silos.Select(s => s.Name)]);
                await Task.Delay(cluster.LeaseTimeout * 0.6, cancellation);
                await cluster.HealAsync(cluster.PrimaryHost);
                break;
            case FaultKind.FailOverDatabase:
                // (k): the primary lost for good mid-run, the standby promoted; the old host comes back as the new standby.
                await cluster.FailOverAsync(beforePromotion: TimeSpan.FromSeconds(2));
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
        if (cluster.Hosted)
        {
            foreach (var host in cluster.Silos.Select(s => s.Name).Append(cluster.PrimaryHost))
            {
                await cluster.HealAsync(host);
            }
        }
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
