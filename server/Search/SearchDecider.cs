using System.Globalization;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Search;

/// <summary>
/// Takes one search target's due decisions inside the caller's transaction, which holds the target's row lock: records
/// the results of trials whose job succeeded (the metric at the rung's epoch, from the job's metrics), then fills the free
/// slots (up to <c>max_concurrent</c> trials Queued or Running) with what the searcher says — a promotion (the trial's job
/// goes from Succeeded back to Queued with a later <c>stop_after_epoch</c>, so its next attempt trains on from the
/// checkpoint), a new trial (a new job), or the end. Every decision is numbered and written with its effect: the caller
/// commits them together or not at all, and whoever holds the lock next sees them.
/// </summary>
public sealed class SearchDecider(SearchPlanner planner)
{
    /// <summary>A trial as the decider reads it: its row and its job's state.</summary>
    private sealed record TrialRow(int Trial, int Rung, string JobId, JobState State, int Attempt);

    /// <summary>The decisions taken, in order; the target's state afterwards.</summary>
    public sealed record Outcome(IReadOnlyList<SearchDecisionView> Decisions, string State);

    public async Task<Outcome> DecideAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, StoredSearch search, string target,
        int decisionsSoFar, CancellationToken cancellation)
    {
        var plan = search.Plan;
        var sequence = decisionsSoFar;
        var decisions = new List<SearchDecisionView>();
        var trials = await ReadTrialsAsync(connection, transaction, plan.SearchId, target, cancellation);
        var results = await ReadResultsAsync(connection, transaction, plan.SearchId, target, cancellation);
        var rungs = plan.Settings.RungEpochs;

        async Task Decide(string action, int? trial, int? rung, int? epochs, double? value, string detail)
        {
            sequence++;
            await using var insert = new NpgsqlCommand("""
                insert into search_decisions (search_id, target, sequence, action, trial, rung, epochs, value, detail)
                values (@search, @target, @sequence, @action, @trial, @rung, @epochs, @value, @detail)
                """, connection, transaction);
            insert.Parameters.AddWithValue("search", plan.SearchId);
            insert.Parameters.AddWithValue("target", target);
            insert.Parameters.AddWithValue("sequence", sequence);
            insert.Parameters.AddWithValue("action", action);
            insert.Parameters.Add(new NpgsqlParameter<int?>("trial", trial) { NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new NpgsqlParameter<int?>("rung", rung) { NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new NpgsqlParameter<int?>("epochs", epochs) { NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new NpgsqlParameter<double?>("value", value) { NpgsqlDbType = NpgsqlDbType.Double });
            insert.Parameters.AddWithValue("detail", detail);
            await insert.ExecuteNonQueryAsync(cancellation);
            decisions.Add(new SearchDecisionView(target, sequence, action, trial, rung, epochs, value, detail, DateTimeOffset.UtcNow));
        }

        // 1. Results: a trial whose job succeeded at its rung is ranked by its metric at that rung's epoch.
        var due = trials.Where(t => t.State == JobState.Succeeded && !results.ContainsKey((t.Trial, t.Rung))).ToList();
        foreach (var (trial, value) in await ReadMetricsAsync(connection, transaction, plan.Metric, due, rungs, cancellation))
        {
            var rung = trial.Rung;
            await using (var insert = new NpgsqlCommand("""
                insert into search_results (search_id, target, trial, rung, epochs, value, attempt)
                values (@search, @target, @trial, @rung, @epochs, @value, @attempt)
                """, connection, transaction))
            {
                insert.Parameters.AddWithValue("search", plan.SearchId);
                insert.Parameters.AddWithValue("target", target);
                insert.Parameters.AddWithValue("trial", trial.Trial);
                insert.Parameters.AddWithValue("rung", rung);
                insert.Parameters.AddWithValue("epochs", rungs[rung]);
                insert.Parameters.Add(new NpgsqlParameter<double?>("value", value) { NpgsqlDbType = NpgsqlDbType.Double });
                insert.Parameters.AddWithValue("attempt", trial.Attempt);
                await insert.ExecuteNonQueryAsync(cancellation);
            }
            results[(trial.Trial, rung)] = value;
            await Decide("result", trial.Trial, rung, rungs[rung], value, value is { } v
                ? string.Create(CultureInfo.InvariantCulture, $"trial {trial.Trial} completed rung {rung} ({rungs[rung]} epochs): {plan.Metric} {v:G6}")
                : $"trial {trial.Trial} completed rung {rung} ({rungs[rung]} epochs) but stored no {plan.Metric} at epoch {rungs[rung]}: it cannot be ranked");
        }

        // 2. Free slots: promotions first, then new trials, as the searcher says.
        var open = trials.Count(t => t.State is JobState.Queued or JobState.Running);
        var state = "Running";
        while (open < plan.Spec.MaxConcurrent)
        {
            var next = Search.Asha.Next(plan.Settings, trials.Select(t => Asha(t, results)).ToList());
            if (next is AshaDecision.Promote promote)
            {
                var row = trials.Single(t => t.Trial == promote.TrialId);
                await RequeueAsync(connection, transaction, row, promote.Epochs,
                    $"search {plan.SearchId}: trial {row.Trial} promoted to rung {promote.Rung} ({promote.Epochs} epochs)", cancellation);
                await using (var update = new NpgsqlCommand("update search_trials set rung = @rung where search_id = @search and target = @target and trial = @trial", connection, transaction))
                {
                    update.Parameters.AddWithValue("rung", promote.Rung);
                    update.Parameters.AddWithValue("search", plan.SearchId);
                    update.Parameters.AddWithValue("target", target);
                    update.Parameters.AddWithValue("trial", row.Trial);
                    await update.ExecuteNonQueryAsync(cancellation);
                }
                var from = results[(row.Trial, promote.Rung - 1)];
                await Decide("promote", row.Trial, promote.Rung, promote.Epochs, from, string.Create(CultureInfo.InvariantCulture,
                    $"trial {row.Trial} ({plan.Metric} {from:G6} at rung {promote.Rung - 1}, in the top 1/{plan.Settings.ReductionFactor}) trains on to {promote.Epochs} epochs from its checkpoint"));
                trials[trials.IndexOf(row)] = row with { Rung = promote.Rung, State = JobState.Queued };
            }
            else if (next is AshaDecision.NewTrial fresh)
            {
                var number = trials.Count + 1;
                var configuration = SearchPlanner.Configuration(plan.Space, plan.Spec.Searcher, plan.Spec.Seed, number);
                var job = planner.Job(plan, target, number, configuration, fresh.Epochs);
                await InsertTrialAsync(connection, transaction, search, target, number, configuration, job, cancellation);
                await Decide("trial", number, 0, fresh.Epochs, null,
                    $"trial {number}: {string.Join(", ", configuration.Select(c => $"{c.Key}={c.Value}"))}, to {fresh.Epochs} epochs (job {job.JobId})");
                trials.Add(new TrialRow(number, 0, job.JobId, JobState.Queued, 0));
            }
            else if (next is AshaDecision.Finished)
            {
                var best = Best(plan, results);
                state = "Finished";
                await Decide("finish", best?.Trial, best?.Rung, best is null ? null : rungs[best.Value.Rung], best?.Value, best is { } b
                    ? string.Create(CultureInfo.InvariantCulture, $"finished after {trials.Count} trial(s): the best is trial {b.Trial} ({plan.Metric} {b.Value:G6} at {rungs[b.Rung]} epochs)")
                    : $"finished after {trials.Count} trial(s): none stored a {plan.Metric}");
                break;
            }
            else
            {
                break; // Wait: every trial has started; a running one may yet make a promotion due.
            }
            open++;
        }

        if (sequence != decisionsSoFar || state != "Running")
        {
            await using var update = new NpgsqlCommand("""
                update search_targets set decisions = @decisions, state = @state,
                       finished_at = case when @state = 'Running' then null else now() end
                where search_id = @search and target = @target
                """, connection, transaction);
            update.Parameters.AddWithValue("decisions", sequence);
            update.Parameters.AddWithValue("state", state);
            update.Parameters.AddWithValue("search", plan.SearchId);
            update.Parameters.AddWithValue("target", target);
            await update.ExecuteNonQueryAsync(cancellation);
        }
        if (state != "Running")
        {
            await EndSearchIfDoneAsync(connection, transaction, plan.SearchId, search.RunId, cancellation);
        }
        return new Outcome(decisions, state);
    }

    /// <summary>Once no target of the search is open, the search is Finished (unless cancelled) and its run's end announced.</summary>
    public static async Task EndSearchIfDoneAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string searchId, string runId, CancellationToken cancellation)
    {
        await using var end = new NpgsqlCommand("""
            update searches set state = 'Finished', finished_at = now()
            where search_id = @search and state = 'Running'
              and not exists (select 1 from search_targets t where t.search_id = @search and t.state = 'Running');
            select punkgrid_announce_run_end(@run);
            """, connection, transaction);
        end.Parameters.AddWithValue("search", searchId);
        end.Parameters.AddWithValue("run", runId);
        await end.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>The best trial by its metric at the highest rung any trial completed (ties: the earlier trial).</summary>
    public static (int Trial, int Rung, double Value)? Best(SearchPlan plan, IReadOnlyDictionary<(int Trial, int Rung), double?> results)
    {
        var scored = results.Where(r => r.Value is not null).Select(r => (r.Key.Trial, r.Key.Rung, Value: r.Value!.Value)).ToList();
        if (scored.Count == 0)
        {
            return null;
        }
        var top = scored.Max(r => r.Rung);
        var atTop = scored.Where(r => r.Rung == top);
        return (plan.Settings.HigherIsBetter ? atTop.OrderByDescending(r => r.Value) : atTop.OrderBy(r => r.Value)).ThenBy(r => r.Trial).First();
    }

    private static AshaTrial Asha(TrialRow trial, Dictionary<(int Trial, int Rung), double?> results)
    {
        var scored = results.Where(r => r.Key.Trial == trial.Trial && r.Value is not null).ToDictionary(r => r.Key.Rung, r => r.Value!.Value);
        var unranked = results.TryGetValue((trial.Trial, trial.Rung), out var value) && value is null;
        return new AshaTrial(trial.Trial, trial.Rung, scored, Failed: unranked || trial.State is JobState.Failed or JobState.Cancelled);
    }

    private static async Task<List<TrialRow>> ReadTrialsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string searchId, string target, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand("""
            select t.trial, t.rung, t.job_id, j.state, j.attempt
            from search_trials t join jobs j on j.job_id = t.job_id
            where t.search_id = @search and t.target = @target
            order by t.trial
            """, connection, transaction);
        command.Parameters.AddWithValue("search", searchId);
        command.Parameters.AddWithValue("target", target);
        var trials = new List<TrialRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            trials.Add(new TrialRow(reader.Int("trial"), reader.Int("rung"), reader.Text("job_id"), Enum.Parse<JobState>(reader.Text("state")), reader.Int("attempt")));
        }
        return trials;
    }

    private static async Task<Dictionary<(int Trial, int Rung), double?>> ReadResultsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string searchId, string target, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand("select trial, rung, value from search_results where search_id = @search and target = @target",
            connection, transaction);
        command.Parameters.AddWithValue("search", searchId);
        command.Parameters.AddWithValue("target", target);
        var results = new Dictionary<(int, int), double?>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            results[(reader.Int("trial"), reader.Int("rung"))] = reader.DoubleOrNull("value");
        }
        return results;
    }

    /// <summary>Each trial's metric at its rung's epoch, as its latest attempt stored it (null when none did, or it is not a number).</summary>
    private static async Task<List<(TrialRow Trial, double? Value)>> ReadMetricsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string metric, List<TrialRow> trials, IReadOnlyList<int> rungs, CancellationToken cancellation)
    {
        if (trials.Count == 0)
        {
            return [];
        }
        await using var command = new NpgsqlCommand("""
            select t.job_id, m.value
            from unnest(@jobs::text[], @epochs::int[]) as t(job_id, epoch)
            left join lateral (select value from metrics where job_id = t.job_id and name = @metric and epoch = t.epoch
                               order by attempt desc, step desc limit 1) m on true
            """, connection, transaction);
        command.Parameters.AddWithValue("jobs", trials.Select(t => t.JobId).ToArray());
        command.Parameters.AddWithValue("epochs", trials.Select(t => rungs[t.Rung]).ToArray());
        command.Parameters.AddWithValue("metric", metric);
        var values = new Dictionary<string, double?>();
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
        {
            while (await reader.ReadAsync(cancellation))
            {
                values[reader.Text("job_id")] = reader.DoubleOrNull("value") is { } v && double.IsFinite(v) ? v : null;
            }
        }
        return trials.Select(t => (t, values.GetValueOrDefault(t.JobId))).ToList();
    }

    /// <summary>
    /// Succeeded → Queued at the attempt the decider read, with the trial's new stop (its next attempt resumes from the
    /// checkpoint of the rung it completed). A job that moved meanwhile (an operator cancelled it) makes the whole
    /// transaction fail: nothing of this pass is kept, and the next pass decides again from what is stored.
    /// </summary>
    private static async Task RequeueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, TrialRow trial, int epochs, string detail, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand("""
            with old as (select job_id, state, attempt from jobs where job_id = @job for update),
            changed as (update jobs j set state = 'Queued', finished_at = null, worker_id = null, lease_expires_at = null, progress = 0,
                               parameters = j.parameters || jsonb_build_object('stop_after_epoch', @stop::text), updated_at = now()
                        from old where j.job_id = old.job_id and old.state = 'Succeeded' and old.attempt = @attempt
                        returning j.job_id, j.attempt),
            events as (insert into job_events (job_id, attempt, from_state, to_state, detail)
                       select job_id, attempt, 'Succeeded', 'Queued', @detail from changed)
            select count(*) from changed
            """, connection, transaction);
        command.Parameters.AddWithValue("job", trial.JobId);
        command.Parameters.AddWithValue("attempt", trial.Attempt);
        command.Parameters.AddWithValue("stop", epochs.ToString(CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("detail", detail);
        if ((long)(await command.ExecuteScalarAsync(cancellation))! != 1)
        {
            throw new SearchConflictException($"job {trial.JobId} is no longer Succeeded at attempt {trial.Attempt}; deciding again next pass");
        }
    }

    private static async Task InsertTrialAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, StoredSearch search, string target, int trial,
        IReadOnlyDictionary<string, string> configuration, Queue.JobStore.NewJob job, CancellationToken cancellation)
    {
        await Queue.JobStore.InsertJobsAsync(connection, transaction, search.RunId, [job], $"search {search.Plan.SearchId}: trial {trial}", cancellation);
        await using var command = new NpgsqlCommand("""
            insert into search_trials (search_id, target, trial, job_id, parameters, rung)
            values (@search, @target, @trial, @job, @configuration, 0)
            """, connection, transaction);
        command.Parameters.AddWithValue("search", search.Plan.SearchId);
        command.Parameters.AddWithValue("target", target);
        command.Parameters.AddWithValue("trial", trial);
        command.Parameters.AddWithValue("job", job.JobId);
        command.Parameters.AddWithValue("configuration", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(configuration));
        await command.ExecuteNonQueryAsync(cancellation);
    }
}

/// <summary>What a search pass found changed under it (a trial's job moved by someone else): it keeps nothing and decides again next pass.</summary>
public sealed class SearchConflictException(string message) : Exception(message);
