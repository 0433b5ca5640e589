using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Search;

/// <summary>
/// Searches in PostgreSQL (<c>searches</c>, <c>search_targets</c>, <c>search_trials</c>, <c>search_results</c>,
/// <c>search_decisions</c>): created with their run and first trials in one transaction, decided target by target under
/// the target's row lock (<see cref="DecideDueAsync"/>), read for the CLI, the API and the dashboard, cancelled.
/// </summary>
public sealed class SearchStore(NpgsqlDataSource dataSource, SearchDecider decider)
{
    /// <summary>Whether the search was created, or why not (a search or a run of that id exists).</summary>
    public enum CreateOutcome
    {
        Created,
        SearchExists,
        RunExists,
    }

    /// <summary>Stores the search, its run and one row per target, and takes each target's first decisions (its first trials), all in one transaction.</summary>
    public async Task<CreateOutcome> CreateAsync(SearchPlan plan, CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        var spec = plan.Spec;
        var runSpec = new RunSpec(spec.Kind, plan.Targets.Where(t => t.Length > 0).ToList(), false, spec.Profile, plan.Parameters, spec.Priority);
        if (!await JobStore.InsertRunAsync(connection, transaction, plan.SearchId, runSpec, cancellation))
        {
            await transaction.RollbackAsync(cancellation);
            return await ExistsAsync(plan.SearchId, cancellation) ? CreateOutcome.SearchExists : CreateOutcome.RunExists;
        }
        await using (var insert = new NpgsqlCommand("""
            insert into searches (search_id, run_id, kind, profile, spec, parameters, space, searcher, metric, higher_is_better,
                                  min_epochs, max_epochs, reduction_factor, max_trials, max_concurrent, seed)
            values (@id, @id, @kind, @profile, @spec, @parameters, @space, @searcher, @metric, @higher,
                    @min, @max, @eta, @trials, @concurrent, @seed);
            insert into search_targets (search_id, target) select @id, unnest(@targets::text[]);
            """, connection, transaction))
        {
            var settings = plan.Settings;
            insert.Parameters.AddWithValue("id", plan.SearchId);
            insert.Parameters.AddWithValue("kind", spec.Kind);
            insert.Parameters.AddWithValue("profile", spec.Profile);
            insert.Parameters.AddWithValue("spec", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(spec));
            insert.Parameters.AddWithValue("parameters", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(plan.Parameters));
            insert.Parameters.AddWithValue("space", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(spec.Space));
            insert.Parameters.AddWithValue("searcher", spec.Searcher);
            insert.Parameters.AddWithValue("metric", plan.Metric);
            insert.Parameters.AddWithValue("higher", settings.HigherIsBetter);
            insert.Parameters.AddWithValue("min", settings.MinEpochs);
            insert.Parameters.AddWithValue("max", settings.MaxEpochs);
            insert.Parameters.AddWithValue("eta", settings.ReductionFactor);
            insert.Parameters.AddWithValue("trials", settings.MaxTrials);
            insert.Parameters.AddWithValue("concurrent", spec.MaxConcurrent);
            insert.Parameters.AddWithValue("seed", spec.Seed);
            insert.Parameters.AddWithValue("targets", plan.Targets.ToArray());
            await insert.ExecuteNonQueryAsync(cancellation);
        }
        var stored = new StoredSearch(plan, plan.SearchId, "Running", DateTimeOffset.UtcNow, null);
        foreach (var target in plan.Targets)
        {
            await decider.DecideAsync(connection, transaction, stored, target, 0, cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return CreateOutcome.Created;
    }

    private async Task<bool> ExistsAsync(string searchId, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand("select 1 from searches where search_id = @id");
        command.Parameters.AddWithValue("id", searchId);
        return await command.ExecuteScalarAsync(cancellation) is not null;
    }

    /// <summary>A decision pass's work on one target, for the log.</summary>
    public sealed record TargetDecisions(string SearchId, string Target, IReadOnlyList<SearchDecisionView> Decisions, string? Conflict);

    /// <summary>
    /// One pass over the open search targets: each is taken by one silo at a time (its row locked, skip locked: a target
    /// another silo is deciding is skipped) and decided in its own transaction. <paramref name="beforeCommit"/> runs after
    /// a target's decisions are written and before they commit (fault injection holds them there).
    /// </summary>
    public async Task<IReadOnlyList<TargetDecisions>> DecideDueAsync(Func<TargetDecisions, CancellationToken, Task>? beforeCommit, CancellationToken cancellation = default)
    {
        var open = new List<(string Search, string Target)>();
        // Only targets with something to decide: a trial whose job succeeded with no result recorded for its rung, or a
        // free trial slot (for a promotion, a new trial or the end). A target whose slots are all busy training is skipped.
        await using (var command = dataSource.CreateCommand(
            """
            select t.search_id, t.target
            from search_targets t join searches s on s.search_id = t.search_id
            where t.state = 'Running'
              and (exists (select 1 from search_trials tr join jobs j on j.job_id = tr.job_id
                           where tr.search_id = t.search_id and tr.target = t.target and j.state = 'Succeeded'
                             and not exists (select 1 from search_results r where r.search_id = tr.search_id and r.target = tr.target
                                             and r.trial = tr.trial and r.rung = tr.rung))
                   or (select count(*) from search_trials tr join jobs j on j.job_id = tr.job_id
                       where tr.search_id = t.search_id and tr.target = t.target and j.state in ('Queued', 'Running')) < s.max_concurrent)
            order by t.search_id, t.target
            """))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
        {
            while (await reader.ReadAsync(cancellation))
            {
                open.Add((reader.Text("search_id"), reader.Text("target")));
            }
        }
        var taken = new List<TargetDecisions>();
        foreach (var (searchId, target) in open)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellation);
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            StoredSearch search;
            int decisions;
            await using (var locked = new NpgsqlCommand($"""
                select t.decisions, {StoredSearch.Columns}
                from search_targets t join searches s on s.search_id = t.search_id
                where t.search_id = @search and t.target = @target and t.state = 'Running'
                for update of t skip locked
                """, connection, transaction))
            {
                locked.Parameters.AddWithValue("search", searchId);
                locked.Parameters.AddWithValue("target", target);
                await using var reader = await locked.ExecuteReaderAsync(cancellation);
                if (!await reader.ReadAsync(cancellation))
                {
                    continue; // another silo is deciding it, or it ended since
                }
                (decisions, search) = (reader.Int("decisions"), StoredSearch.Read(reader));
            }
            try
            {
                var outcome = await decider.DecideAsync(connection, transaction, search, target, decisions, cancellation);
                if (outcome.Decisions.Count == 0)
                {
                    continue; // nothing to commit: the transaction is rolled back as it is disposed
                }
                var done = new TargetDecisions(searchId, target, outcome.Decisions, null);
                if (beforeCommit is not null)
                {
                    await beforeCommit(done, cancellation);
                }
                await transaction.CommitAsync(cancellation);
                taken.Add(done);
            }
            catch (SearchConflictException conflict)
            {
                taken.Add(new TargetDecisions(searchId, target, [], conflict.Message));
            }
            catch (ArgumentException refused)
            {
                // A trial its kind refuses (the space was checked at its extremes when the search was made): the target
                // cannot go on. It fails, saying why, rather than blocking the pass for every other search.
                await transaction.RollbackAsync(cancellation);
                taken.Add(new TargetDecisions(searchId, target, [await FailAsync(search, target, refused.Message, cancellation)], null));
            }
        }
        return taken;
    }

    /// <summary>Ends a target as Failed with its reason, as the next numbered decision.</summary>
    private async Task<SearchDecisionView> FailAsync(StoredSearch search, string target, string reason, CancellationToken cancellation)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        int sequence;
        await using (var fail = new NpgsqlCommand("""
            with failed as (update search_targets set state = 'Failed', decisions = decisions + 1, detail = @reason, finished_at = now()
                            where search_id = @search and target = @target and state = 'Running' returning decisions)
            insert into search_decisions (search_id, target, sequence, action, detail)
            select @search, @target, decisions, 'fail', @reason from failed
            returning sequence
            """, connection, transaction))
        {
            fail.Parameters.AddWithValue("search", search.Plan.SearchId);
            fail.Parameters.AddWithValue("target", target);
            fail.Parameters.AddWithValue("reason", $"a trial was refused: {reason}");
            sequence = await fail.ExecuteScalarAsync(cancellation) is int n ? n : 0;
        }
        await SearchDecider.EndSearchIfDoneAsync(connection, transaction, search.Plan.SearchId, search.RunId, cancellation);
        await transaction.CommitAsync(cancellation);
        return new SearchDecisionView(target, sequence, "fail", null, null, null, null, $"a trial was refused: {reason}", DateTimeOffset.UtcNow);
    }

    /// <summary>The search; null when none has this id.</summary>
    public async Task<StoredSearch?> GetAsync(string searchId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand($"select {StoredSearch.Columns} from searches s where s.search_id = @id");
        command.Parameters.AddWithValue("id", searchId);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        return await reader.ReadAsync(cancellation) ? StoredSearch.Read(reader) : null;
    }

    /// <summary>The search's targets: state, decisions taken, and why it ended when it did not finish.</summary>
    public async Task<IReadOnlyList<(string Target, string State, int Decisions, string? Detail)>> GetTargetsAsync(string searchId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("select target, state, decisions, detail from search_targets where search_id = @id order by target");
        command.Parameters.AddWithValue("id", searchId);
        var targets = new List<(string, string, int, string?)>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            targets.Add((reader.Text("target"), reader.Text("state"), reader.Int("decisions"), reader.TextOrNull("detail")));
        }
        return targets;
    }

    /// <summary>Every trial of the search, by target and number, with its job's state and its results.</summary>
    public async Task<IReadOnlyList<SearchTrialView>> GetTrialsAsync(string searchId, IReadOnlyList<int> rungEpochs, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select t.target, t.trial, t.job_id, t.parameters::text as parameters, t.rung, t.created_at, j.state, j.epoch, g.state as target_state,
                   coalesce((select jsonb_object_agg(r.rung::text, r.value) from search_results r
                             where r.search_id = t.search_id and r.target = t.target and r.trial = t.trial and r.value is not null), '{}')::text as results,
                   exists (select 1 from search_results r where r.search_id = t.search_id and r.target = t.target and r.trial = t.trial
                           and r.rung = t.rung and r.value is null) as unranked
            from search_trials t
            join jobs j on j.job_id = t.job_id
            join search_targets g on g.search_id = t.search_id and g.target = t.target
            where t.search_id = @id
            order by t.target, t.trial
            """);
        command.Parameters.AddWithValue("id", searchId);
        var trials = new List<SearchTrialView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var rung = reader.Int("rung");
            var state = Enum.Parse<JobState>(reader.Text("state"));
            var results = JsonSerializer.Deserialize<Dictionary<string, double>>(reader.Text("results"))!
                .ToDictionary(r => int.Parse(r.Key, System.Globalization.CultureInfo.InvariantCulture), r => r.Value);
            var status = state is JobState.Queued or JobState.Running ? "running"
                : state is JobState.Failed or JobState.Cancelled || reader.Bool("unranked") ? "failed"
                : !results.ContainsKey(rung) ? "running" // succeeded, its result not recorded yet
                : rung == rungEpochs.Count - 1 ? "completed"
                : reader.Text("target_state") == "Running" ? "paused" : "stopped";
            trials.Add(new SearchTrialView(reader.Text("target"), reader.Int("trial"), reader.Text("job_id"),
                JsonSerializer.Deserialize<Dictionary<string, string>>(reader.Text("parameters"))!, rung, rungEpochs[rung], state,
                reader.Int("epoch"), results, status, reader.Time("created_at")));
        }
        return trials;
    }

    public async Task<IReadOnlyList<SearchDecisionView>> GetDecisionsAsync(string searchId, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select target, sequence, action, trial, rung, epochs, value, detail, decided_at
            from search_decisions where search_id = @id order by target, sequence
            """);
        command.Parameters.AddWithValue("id", searchId);
        var decisions = new List<SearchDecisionView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            decisions.Add(new SearchDecisionView(reader.Text("target"), reader.Int("sequence"), reader.Text("action"), reader.IntOrNull("trial"),
                reader.IntOrNull("rung"), reader.IntOrNull("epochs"), reader.DoubleOrNull("value"), reader.Text("detail"), reader.Time("decided_at")));
        }
        return decisions;
    }

    /// <summary>Each trial's metric at every epoch it trained (of an epoch trained by two attempts, the later one's).</summary>
    public async Task<IReadOnlyList<SearchCurve>> GetCurvesAsync(string searchId, string metric, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select t.target, t.trial, m.epoch, m.value
            from search_trials t
            cross join lateral (select distinct on (epoch) epoch, value from metrics
                                where job_id = t.job_id and name = @metric order by epoch, attempt desc, step desc) m
            where t.search_id = @id
            order by t.target, t.trial, m.epoch
            """);
        command.Parameters.AddWithValue("id", searchId);
        command.Parameters.AddWithValue("metric", metric);
        var curves = new List<SearchCurve>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        (string Target, int Trial)? current = null;
        var points = new List<SearchCurvePoint>();
        while (await reader.ReadAsync(cancellation))
        {
            var key = (reader.Text("target"), reader.Int("trial"));
            if (current != key)
            {
                if (current is { } done)
                {
                    curves.Add(new SearchCurve(done.Target, done.Trial, points));
                }
                (current, points) = (key, []);
            }
            points.Add(new SearchCurvePoint(reader.Int("epoch"), reader.Double("value")));
        }
        if (current is { } last)
        {
            curves.Add(new SearchCurve(last.Target, last.Trial, points));
        }
        return curves;
    }

    public async Task<IReadOnlyList<SearchListItem>> ListAsync(int limit, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select s.search_id, s.kind, s.searcher, s.metric, s.state, s.created_at,
                   (select count(*) from search_targets t where t.search_id = s.search_id)::int as targets,
                   (select count(*) from search_trials t where t.search_id = s.search_id)::int as trials
            from searches s order by s.created_at desc, s.search_id limit @limit
            """);
        command.Parameters.AddWithValue("limit", limit);
        var searches = new List<SearchListItem>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            searches.Add(new SearchListItem(reader.Text("search_id"), reader.Text("kind"), reader.Text("searcher"), reader.Text("metric"),
                reader.Text("state"), reader.Int("targets"), reader.Int("trials"), reader.Time("created_at")));
        }
        return searches;
    }

    /// <summary>
    /// Ends an open search: each open target Cancelled (with a numbered decision, waiting for a pass deciding it), its open
    /// trials' jobs Cancelled, in one transaction. Null when no search has this id; false when it had already ended.
    /// </summary>
    public async Task<(bool Cancelled, int Jobs)?> CancelAsync(string searchId, CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        string runId;
        await using (var search = new NpgsqlCommand("select run_id, state from searches where search_id = @id for update", connection, transaction))
        {
            search.Parameters.AddWithValue("id", searchId);
            await using var reader = await search.ExecuteReaderAsync(cancellation);
            if (!await reader.ReadAsync(cancellation))
            {
                return null;
            }
            if (reader.Text("state") != "Running")
            {
                return (false, 0);
            }
            runId = reader.Text("run_id");
        }
        await using (var targets = new NpgsqlCommand("""
            with open as (select target from search_targets where search_id = @id and state = 'Running' for update),
            ended as (update search_targets t set state = 'Cancelled', decisions = t.decisions + 1, detail = 'cancelled by an operator', finished_at = now()
                      from open o where t.search_id = @id and t.target = o.target returning t.target, t.decisions)
            insert into search_decisions (search_id, target, sequence, action, detail)
            select @id, target, decisions, 'cancel', 'cancelled by an operator: no new trial or promotion' from ended
            """, connection, transaction))
        {
            targets.Parameters.AddWithValue("id", searchId);
            await targets.ExecuteNonQueryAsync(cancellation);
        }
        long jobs;
        await using (var cancel = new NpgsqlCommand("""
            with old as (select job_id, state, attempt from jobs where run_id = @run and state in ('Queued', 'Running') for update),
            changed as (update jobs j set state = 'Cancelled', finished_at = now(), lease_expires_at = null, updated_at = now()
                        from old where j.job_id = old.job_id returning j.job_id, j.attempt, old.state as from_state),
            events as (insert into job_events (job_id, attempt, from_state, to_state, detail)
                       select job_id, attempt, from_state, 'Cancelled', @detail from changed)
            select count(*) from changed
            """, connection, transaction))
        {
            cancel.Parameters.AddWithValue("run", runId);
            cancel.Parameters.AddWithValue("detail", $"search {searchId} cancelled");
            jobs = (long)(await cancel.ExecuteScalarAsync(cancellation))!;
        }
        await using (var end = new NpgsqlCommand("""
            update searches set state = 'Cancelled', finished_at = now() where search_id = @id;
            select punkgrid_announce_run_end(@run);
            """, connection, transaction))
        {
            end.Parameters.AddWithValue("id", searchId);
            end.Parameters.AddWithValue("run", runId);
            await end.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return (true, (int)jobs);
    }
}
