using Npgsql;
using PunkGrid.Contracts;

namespace PunkGrid.Server.Storage;

/// <summary>
/// The model registry in PostgreSQL (<c>model_versions</c>, <c>model_aliases</c>, <c>model_promotions</c>): a run's
/// succeeded models registered as new versions (<c>trait/NAME</c>, <c>vae</c>, <c>gan</c>, <c>gan/conditional</c>,
/// <c>pokemon</c>), aliases set by operators or by promote-if-better, and the runs that promote when they end. Registering
/// and promoting take one advisory lock, so version numbers never clash and a run is promoted by one silo, once.
/// </summary>
public sealed class ModelRegistryStore(NpgsqlDataSource dataSource)
{
    private const long RegistryLockKey = 0x50756e6b4d6f646c; // "PunkModl"

    /// <summary>The registry's names and scores of a run's succeeded jobs with a stored model, not registered yet, numbered after each model's last version.</summary>
    private const string Register = """
        with candidates as (
            select j.job_id, j.run_id,
                   case j.kind when 'trait' then 'trait/' || j.target
                               when 'gan' then case when coalesce((j.evaluation->>'conditional')::boolean, false) then 'gan/conditional' else 'gan' end
                               else j.kind end as model,
                   case j.kind when 'trait' then 'f1' when 'pokemon' then 'top1' else 'punk_fid' end as metric_name,
                   case j.kind when 'trait' then (j.evaluation->>'f1')::float8
                               when 'pokemon' then (j.evaluation->>'top1')::float8
                               else (j.evaluation->>'punk_fid')::float8 end as metric,
                   j.kind in ('trait', 'pokemon') as higher_is_better
            from jobs j
            where j.run_id = @run and j.state = 'Succeeded' and j.kind in ('trait', 'vae', 'gan', 'pokemon')
              and exists (select 1 from artifacts a where a.job_id = j.job_id and a.name = 'model.bin')
              and not exists (select 1 from model_versions v where v.job_id = j.job_id)),
        numbered as (
            select c.*, coalesce((select max(v.version) from model_versions v where v.model = c.model), 0)
                        + row_number() over (partition by c.model order by c.job_id) as version
            from candidates c)
        insert into model_versions (model, version, job_id, run_id, metric_name, metric, higher_is_better)
        select model, version, job_id, run_id, metric_name, metric, higher_is_better from numbered
        returning model, version
        """;

    private const string Versions = """
        select v.model, v.version, v.run_id, v.job_id, v.metric_name, v.metric, v.higher_is_better, v.registered_at,
               coalesce((select array_agg(a.alias order by a.alias) from model_aliases a where a.model = v.model and a.version = v.version), '{}') as aliases
        from model_versions v
        """;

    /// <summary>Registers the run's models (see <see cref="Register"/>); null when no run has this id.</summary>
    public async Task<IReadOnlyList<ModelVersionView>?> RegisterAsync(string runId, CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        if (!await RunExistsAsync(connection, transaction, runId, cancellation))
        {
            return null;
        }
        await LockAsync(connection, transaction, cancellation);
        var registered = await RegisterAsync(connection, transaction, runId, cancellation);
        await transaction.CommitAsync(cancellation);
        return await ReadVersionsAsync("where (v.model, v.version) in (select * from unnest(@models::text[], @versions::int[])) order by v.model",
            c =>
            {
                c.Parameters.AddWithValue("models", registered.Select(r => r.Model).ToArray());
                c.Parameters.AddWithValue("versions", registered.Select(r => r.Version).ToArray());
            }, cancellation);
    }

    private static async Task<List<(string Model, int Version)>> RegisterAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string runId, CancellationToken cancellation)
    {
        await using var register = new NpgsqlCommand(Register, connection, transaction);
        register.Parameters.AddWithValue("run", runId);
        var registered = new List<(string, int)>();
        await using var reader = await register.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            registered.Add((reader.Text("model"), reader.Int("version")));
        }
        return registered;
    }

    private static async Task<bool> RunExistsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string runId, CancellationToken cancellation)
    {
        await using var exists = new NpgsqlCommand("select exists (select 1 from runs where run_id = @run)", connection, transaction);
        exists.Parameters.AddWithValue("run", runId);
        return (bool)(await exists.ExecuteScalarAsync(cancellation))!;
    }

    private static async Task LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellation)
    {
        await using var gate = new NpgsqlCommand("select pg_advisory_xact_lock(@key)", connection, transaction);
        gate.Parameters.AddWithValue("key", RegistryLockKey);
        await gate.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>Points the alias at the version; why not (no such model or version), or null when done.</summary>
    public async Task<string?> SetAliasAsync(string model, string alias, int version, string setBy, CancellationToken cancellation = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await LockAsync(connection, transaction, cancellation);
        await using (var versions = new NpgsqlCommand("select coalesce(array_agg(version order by version), '{}') from model_versions where model = @model", connection, transaction))
        {
            versions.Parameters.AddWithValue("model", model);
            var known = (int[])(await versions.ExecuteScalarAsync(cancellation))!;
            if (known.Length == 0)
            {
                return $"unknown model '{model}' (see `punkgrid models list`; models are named trait/NAME, vae, gan, gan/conditional, pokemon)";
            }
            if (!known.Contains(version))
            {
                return $"model '{model}' has no version {version}: its versions are {string.Join(", ", known)}";
            }
        }
        await using (var set = new NpgsqlCommand("""
            insert into model_aliases (model, alias, version, set_by) values (@model, @alias, @version, @by)
            on conflict (model, alias) do update set version = excluded.version, set_at = now(), set_by = excluded.set_by
            """, connection, transaction))
        {
            set.Parameters.AddWithValue("model", model);
            set.Parameters.AddWithValue("alias", alias);
            set.Parameters.AddWithValue("version", version);
            set.Parameters.AddWithValue("by", setBy);
            await set.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return null;
    }

    public async Task<IReadOnlyList<ModelView>> ListAsync(string? model = null, CancellationToken cancellation = default)
    {
        var versions = await ReadVersionsAsync("where @model::text is null or v.model = @model order by v.model, v.version desc",
            c => c.Parameters.Add(new NpgsqlParameter<string?>("model", model) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text }), cancellation);
        return versions.GroupBy(v => v.Model, StringComparer.Ordinal)
            .Select(g => new ModelView(g.Key, g.ToList(),
                g.SelectMany(v => v.Aliases.Select(a => (a, v.Version))).ToDictionary(x => x.a, x => x.Version, StringComparer.Ordinal)))
            .ToList();
    }

    private async Task<List<ModelVersionView>> ReadVersionsAsync(string where, Action<NpgsqlCommand> parameters, CancellationToken cancellation)
    {
        await using var command = dataSource.CreateCommand($"{Versions} {where}");
        parameters(command);
        var versions = new List<ModelVersionView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            versions.Add(new ModelVersionView(reader.Text("model"), reader.Int("version"), reader.Text("run_id"), reader.Text("job_id"),
                reader.TextOrNull("metric_name"), reader.DoubleOrNull("metric"), reader.Bool("higher_is_better"), reader.Time("registered_at"),
                reader.GetFieldValue<string[]>(reader.GetOrdinal("aliases"))));
        }
        return versions;
    }

    /// <summary>The job whose model <paramref name="alias"/> of <paramref name="model"/> points at; null when the alias is not set.</summary>
    public async Task<string?> ResolveAsync(string model, string alias, CancellationToken cancellation = default) =>
        (await ResolveAllAsync(model, alias, prefix: false, cancellation)).Select(r => r.JobId).FirstOrDefault();

    /// <summary>Every model named <c>PREFIX…</c> (e.g. <c>trait/</c>) with <paramref name="alias"/> set, and its job.</summary>
    public async Task<IReadOnlyList<(string Model, int Version, string JobId)>> ResolveAllAsync(string model, string alias, bool prefix, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select a.model, a.version, v.job_id
            from model_aliases a join model_versions v on v.model = a.model and v.version = a.version
            where a.alias = @alias and (case when @prefix then starts_with(a.model, @model) else a.model = @model end)
            order by a.model
            """);
        command.Parameters.AddWithValue("model", model);
        command.Parameters.AddWithValue("alias", alias);
        command.Parameters.AddWithValue("prefix", prefix);
        var resolved = new List<(string, int, string)>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            resolved.Add((reader.Text("model"), reader.Int("version"), reader.Text("job_id")));
        }
        return resolved;
    }

    public async Task<IReadOnlyList<PromotionDecision>> PromotionsAsync(string? model, int limit, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select run_id, model, alias, candidate_version, candidate_metric, current_version, current_metric, promoted, reason, decided_at
            from model_promotions
            where @model::text is null or model = @model
            order by id desc
            limit @limit
            """);
        command.Parameters.Add(new NpgsqlParameter<string?>("model", model) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.AddWithValue("limit", limit);
        var decisions = new List<PromotionDecision>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            decisions.Add(Decision(reader));
        }
        return decisions;
    }

    /// <summary>
    /// Promotes the runs that asked for it (<c>--promote-if-better ALIAS</c>) and have ended: one transaction per run, which
    /// registers its models and, model by model, points ALIAS at the new version when it scores better than the version
    /// ALIAS points at (or when none does), recording each decision with both scores. Returns the decisions taken now.
    /// </summary>
    public async Task<IReadOnlyList<PromotionDecision>> PromoteEndedRunsAsync(CancellationToken cancellation = default)
    {
        var decisions = new List<PromotionDecision>();
        while (true)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellation);
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            string runId, alias;
            await using (var next = new NpgsqlCommand("""
                select r.run_id, r.promote_alias from runs r
                where r.promote_alias is not null and r.promoted_at is null
                  and not exists (select 1 from jobs j where j.run_id = r.run_id and j.state in ('Queued', 'Running'))
                order by r.created_at
                limit 1
                for update of r skip locked
                """, connection, transaction))
            {
                await using var reader = await next.ExecuteReaderAsync(cancellation);
                if (!await reader.ReadAsync(cancellation))
                {
                    return decisions;
                }
                (runId, alias) = (reader.Text("run_id"), reader.Text("promote_alias"));
            }
            await LockAsync(connection, transaction, cancellation);
            await RegisterAsync(connection, transaction, runId, cancellation);
            await using (var decide = new NpgsqlCommand("""
                with candidates as (
                    select v.model, v.version, v.metric, v.higher_is_better, a.version as current_version, cv.metric as current_metric
                    from model_versions v
                    left join model_aliases a on a.model = v.model and a.alias = @alias
                    left join model_versions cv on cv.model = a.model and cv.version = a.version
                    where v.run_id = @run
                      and not exists (select 1 from model_promotions p where p.run_id = @run and p.model = v.model and p.alias = @alias)),
                judged as (
                    select c.*,
                           case when c.current_version is null then true
                                when c.current_version = c.version then false
                                when c.metric is null then false
                                when c.current_metric is null then true
                                when c.higher_is_better then c.metric > c.current_metric
                                else c.metric < c.current_metric end as promoted,
                           case when c.current_version is null then 'no version had the alias'
                                when c.current_version = c.version then 'the alias already points at this version'
                                when c.metric is null then 'the new version has no score'
                                when c.current_metric is null then 'the version the alias pointed at has no score'
                                when (c.higher_is_better and c.metric > c.current_metric) or (not c.higher_is_better and c.metric < c.current_metric)
                                    then 'better than the version the alias pointed at'
                                else 'not better than the version the alias pointed at' end as reason
                    from candidates c),
                recorded as (
                    insert into model_promotions (run_id, model, alias, candidate_version, candidate_metric, current_version, current_metric, promoted, reason)
                    select @run, model, @alias, version, metric, current_version, current_metric, promoted, reason from judged
                    returning run_id, model, alias, candidate_version, candidate_metric, current_version, current_metric, promoted, reason, decided_at),
                moved as (
                    insert into model_aliases (model, alias, version, set_by)
                    select model, @alias, version, 'run ' || @run || ' (promote-if-better)' from judged where promoted
                    on conflict (model, alias) do update set version = excluded.version, set_at = now(), set_by = excluded.set_by
                    returning 1),
                done as (update runs set promoted_at = now() where run_id = @run returning 1)
                select r.*, (select count(*) from moved) as moved, (select count(*) from done) as done from recorded r order by r.model
                """, connection, transaction))
            {
                decide.Parameters.AddWithValue("run", runId);
                decide.Parameters.AddWithValue("alias", alias);
                await using var reader = await decide.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                {
                    decisions.Add(Decision(reader));
                }
            }
            await transaction.CommitAsync(cancellation);
        }
    }

    private static PromotionDecision Decision(NpgsqlDataReader row) => new(row.Text("run_id"), row.Text("model"), row.Text("alias"),
        row.Int("candidate_version"), row.DoubleOrNull("candidate_metric"), row.IntOrNull("current_version"), row.DoubleOrNull("current_metric"),
        row.Bool("promoted"), row.Text("reason"), row.Time("decided_at"));
}
