using Npgsql;
using PunkGrid.Server.Queue;

namespace PunkGrid.Server.Storage;

/// <summary>What the alerts watch, read from PostgreSQL in one statement (see <c>infra/observability/alerts.yml</c>).</summary>
/// <param name="AliveWorkers">Workers that heartbeated within a lease timeout.</param>
/// <param name="SilentWorkers">Workers silent for longer than a lease timeout (but less than an hour) that no later incarnation at the same address replaced.</param>
/// <param name="IdleSlots">Free slots of the alive workers, but for those held free beside a suspect job running alone (see <c>JobQueue.LeaseAsync</c>).</param>
/// <param name="ProgressAgeSeconds">The longest time any Running job went without a new step or epoch (0: none running).</param>
/// <param name="QuarantinedJobs">Jobs quarantined in the last 24 hours (and not retried since).</param>
public sealed record ClusterHealth(long AliveWorkers, long SilentWorkers, long IdleSlots, double ProgressAgeSeconds, long QuarantinedJobs);

public sealed class ClusterHealthStore(NpgsqlDataSource dataSource)
{
    public async Task<ClusterHealth> ReadAsync(TimeSpan aliveWithin, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"""
            select
                (select count(*) from workers where last_heartbeat > now() - @alive) as alive,
                (select count(*) from workers w
                 where w.last_heartbeat <= now() - @alive and w.last_heartbeat > now() - interval '1 hour'
                   and not exists (select 1 from workers n where split_part(n.worker_id, '/', 1) = split_part(w.worker_id, '/', 1)
                                   and n.last_heartbeat > w.last_heartbeat)) as silent,
                (select coalesce(sum(greatest(w.slots - w.running, 0)), 0)::bigint from workers w where w.last_heartbeat > now() - @alive
                 and not exists (select 1 from jobs j where j.state = 'Running' and j.worker_id = w.worker_id and {JobQueue.SuspectWithoutCheckpoint})) as idle_slots,
                (select coalesce(extract(epoch from now() - min(coalesce(progressed_at, updated_at))), 0)::float8
                 from jobs where state = 'Running') as progress_age,
                (select count(*) from jobs where state = 'Failed' and error like 'quarantined:%' and finished_at > now() - interval '24 hours') as quarantined
            """);
        command.Parameters.AddWithValue("alive", aliveWithin);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        await reader.ReadAsync(cancellation);
        return new ClusterHealth(reader.Long("alive"), reader.Long("silent"), reader.Long("idle_slots"), reader.Double("progress_age"), reader.Long("quarantined"));
    }
}
