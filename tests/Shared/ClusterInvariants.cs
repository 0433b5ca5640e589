using Npgsql;

namespace PunkGrid.Tests.Shared;

/// <summary>
/// The guarantees PunkGrid makes about its jobs, checked from what PostgreSQL holds after a fault scenario (the fault
/// tests) or a chaos soak (<c>bench/chaos-soak.sh</c>). One checker for both, so the soak's "nothing lost" means the same
/// as the tests'.
/// <list type="bullet">
/// <item>every job is terminal (Succeeded, Failed, Cancelled);</item>
/// <item>never two attempts of a job Running at once, and attempts only grow (replayed from <c>job_events</c>);</item>
/// <item>a Succeeded job succeeded exactly once (once more per search promotion), its evaluation and its <c>eval.json</c>/<c>model.bin</c> are the winning attempt's;</item>
/// <item>no attempt wrote anything (metrics, checkpoints, artifacts) after it ended: stale attempts are fenced;</item>
/// <item>the attempts of a Succeeded job together reported every epoch (<c>epoch_seconds</c> for epochs 1..N).</item>
/// </list>
/// </summary>
public static class ClusterInvariants
{
    /// <summary>What the checker found: the violations (empty when every guarantee held) and what the jobs went through.</summary>
    public sealed record Report(
        IReadOnlyList<string> Violations,
        int Jobs,
        IReadOnlyDictionary<string, int> ByState,
        int MaxAttempt,
        int LostLeases,
        int Failures,
        int Quarantined,
        int AttemptsPastFirst)
    {
        public bool Holds => Violations.Count == 0;

        public override string ToString() =>
            $"{Jobs} jobs ({string.Join(", ", ByState.OrderBy(s => s.Key).Select(s => $"{s.Value} {s.Key}"))}); max attempt {MaxAttempt}; " +
            $"lost leases {LostLeases}; failures {Failures}; quarantined {Quarantined}" +
            (Holds ? "; every invariant holds" : $"; {Violations.Count} violation(s):\n  " + string.Join("\n  ", Violations.Take(50)));
    }

    private sealed record Event(long Id, int Attempt, string? From, string To, DateTime At);

    /// <summary>Checks the jobs whose run id starts with one of <paramref name="runPrefixes"/> (all jobs when none are given).</summary>
    public static async Task<Report> CheckAsync(NpgsqlDataSource database, params string[] runPrefixes)
    {
        var violations = new List<string>();
        var jobs = new Dictionary<string, (string State, int Attempt, int TotalEpochs, bool HasEvaluation, int LostLeases, int Failures, string? Error)>();
        await using (var command = database.CreateCommand(
            "select job_id, state, attempt, total_epochs, evaluation is not null, lost_leases, failures, error from jobs " +
            "where cardinality(@prefixes::text[]) = 0 or exists (select 1 from unnest(@prefixes::text[]) p where starts_with(run_id, p))"))
        {
            command.Parameters.AddWithValue("prefixes", runPrefixes);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                jobs[reader.GetString(0)] = (reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetBoolean(4), reader.GetInt32(5),
                    reader.GetInt32(6), reader.IsDBNull(7) ? null : reader.GetString(7));
            }
        }
        var ids = jobs.Keys.ToArray();
        var events = await GroupAsync(database, "select job_id, id, attempt, from_state, to_state, at from job_events where job_id = any(@ids) order by job_id, id", ids,
            r => new Event(r.GetInt64(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetString(4), r.GetDateTime(5)));
        // The last moment each (job, attempt) may have written: when it ended (left Running), or now if it has not.
        var writes = await GroupAsync(database,
            "select job_id, 'metric', attempt, max(recorded_at) from metrics where job_id = any(@ids) group by job_id, attempt " +
            "union all select job_id, 'checkpoint', attempt, max(created_at) from checkpoints where job_id = any(@ids) group by job_id, attempt " +
            "union all select job_id, 'artifact ' || name, attempt, created_at from artifacts where job_id = any(@ids)", ids,
            r => (What: r.GetString(1), Attempt: r.GetInt32(2), At: r.GetDateTime(3)));
        var artifacts = await GroupAsync(database, "select job_id, name, attempt from artifacts where job_id = any(@ids) and name in ('eval.json', 'model.bin')", ids,
            r => (Name: r.GetString(1), Attempt: r.GetInt32(2)));
        var epochs = await GroupAsync(database, "select distinct job_id, epoch from metrics where job_id = any(@ids) and name = 'epoch_seconds'", ids,
            r => r.GetInt32(1));

        foreach (var (id, job) in jobs)
        {
            if (job.State is not ("Succeeded" or "Failed" or "Cancelled"))
            {
                violations.Add($"{id}: not terminal ({job.State} at attempt {job.Attempt})");
            }
            var history = events.GetValueOrDefault(id) ?? [];
            var ended = new Dictionary<int, DateTime>();
            int? runningAttempt = null;
            var lastAttempt = 0;
            foreach (var e in history)
            {
                if (e.From == "Running")
                {
                    if (runningAttempt != e.Attempt)
                    {
                        violations.Add($"{id}: event {e.Id} ends attempt {e.Attempt} while attempt {runningAttempt?.ToString() ?? "none"} was Running");
                    }
                    runningAttempt = null;
                    ended[e.Attempt] = e.At;
                }
                if (e.To == "Running")
                {
                    if (runningAttempt is { } other)
                    {
                        violations.Add($"{id}: attempt {e.Attempt} started (event {e.Id}) while attempt {other} was still Running");
                    }
                    if (e.Attempt <= lastAttempt)
                    {
                        violations.Add($"{id}: attempt {e.Attempt} started after attempt {lastAttempt}");
                    }
                    (runningAttempt, lastAttempt) = (e.Attempt, e.Attempt);
                }
            }
            foreach (var write in writes.GetValueOrDefault(id) ?? [])
            {
                if (ended.TryGetValue(write.Attempt, out var end) && write.At > end)
                {
                    violations.Add($"{id}: attempt {write.Attempt} wrote {write.What} at {write.At:HH:mm:ss.fff}, after it ended at {end:HH:mm:ss.fff}");
                }
            }
            if (job.State == "Succeeded")
            {
                // Once, or once more each time a search promoted the trial (Succeeded → Queued, to train on to its next rung).
                var successes = history.Where(e => e.To == "Succeeded").ToList();
                var promotions = history.Count(e => e.From == "Succeeded" && e.To == "Queued");
                if (successes.Count != 1 + promotions)
                {
                    violations.Add($"{id}: succeeded {successes.Count} times, queued again {promotions} time(s)");
                }
                var winner = successes.LastOrDefault()?.Attempt ?? -1;
                if (winner != job.Attempt || !job.HasEvaluation)
                {
                    violations.Add($"{id}: Succeeded at attempt {job.Attempt}, success event of attempt {winner}, evaluation stored: {job.HasEvaluation}");
                }
                var outputs = artifacts.GetValueOrDefault(id) ?? [];
                if (!outputs.Any(a => a.Name == "eval.json"))
                {
                    violations.Add($"{id}: Succeeded without eval.json");
                }
                foreach (var artifact in outputs.Where(a => a.Attempt != winner))
                {
                    violations.Add($"{id}: {artifact.Name} is attempt {artifact.Attempt}'s, not the winning attempt {winner}'s");
                }
                var missing = Enumerable.Range(1, job.TotalEpochs).Except(epochs.GetValueOrDefault(id) ?? []).ToList();
                if (missing.Count > 0)
                {
                    violations.Add($"{id}: no epoch_seconds metric for epoch(s) {string.Join(", ", missing)} of {job.TotalEpochs}");
                }
            }
        }
        return new Report(violations, jobs.Count,
            jobs.Values.GroupBy(j => j.State).ToDictionary(g => g.Key, g => g.Count()),
            jobs.Count == 0 ? 0 : jobs.Values.Max(j => j.Attempt),
            jobs.Values.Sum(j => j.LostLeases),
            jobs.Values.Sum(j => j.Failures),
            jobs.Values.Count(j => j.State == "Failed" && (j.Error ?? "").StartsWith("quarantined:", StringComparison.Ordinal)),
            jobs.Values.Sum(j => Math.Max(0, j.Attempt - 1)));
    }

    private static async Task<Dictionary<string, List<T>>> GroupAsync<T>(NpgsqlDataSource database, string sql, string[] ids, Func<NpgsqlDataReader, T> read)
    {
        var result = new Dictionary<string, List<T>>(StringComparer.Ordinal);
        await using var command = database.CreateCommand(sql);
        command.Parameters.AddWithValue("ids", ids);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var key = reader.GetString(0);
            if (!result.TryGetValue(key, out var list))
            {
                result[key] = list = [];
            }
            list.Add(read(reader));
        }
        return result;
    }
}
