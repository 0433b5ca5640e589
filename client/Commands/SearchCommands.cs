namespace PunkGrid.Client;

/// <summary>
/// <c>punkgrid search traits|vae|gan|pokemon|noop …</c> starts a hyperparameter search; <c>search list|status|trials|best|decisions|cancel</c>
/// read and end one. The cluster decides; the CLI only asks and shows.
/// </summary>
public static partial class PunkGridCommandLine
{
    private static Command SearchCommand(Io io)
    {
        var search = new Command("search", "Hyperparameter searches (grid, random, ASHA): trials are ordinary jobs; the cluster promotes and stops them.");
        search.Subcommands.Add(SearchStart(io, JobKinds.Trait, "traits", "One search per trait, side by side (validation_f1, higher is better)."));
        search.Subcommands.Add(SearchStart(io, JobKinds.Vae, JobKinds.Vae, "The VAE (punk_fid, lower is better)."));
        search.Subcommands.Add(SearchStart(io, JobKinds.Gan, JobKinds.Gan, "The GAN (punk_fid, lower is better)."));
        search.Subcommands.Add(SearchStart(io, JobKinds.Pokemon, JobKinds.Pokemon, "The Pokémon classifier (validation_accuracy, higher is better)."));
        search.Subcommands.Add(SearchStart(io, JobKinds.Noop, JobKinds.Noop, "Noop trials (noop_score = quality · epoch / epochs), for testing and measuring the searchers."));

        var list = new Command("list", "Recent searches.");
        list.Options.Add(JsonOption);
        list.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var searches = await client.GetGrain<ISearchGrain>(0).List(50);
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, searches, CliJson.Default.IReadOnlyListSearchListItem);
            }
            var table = new Table().AddColumns("search", "kind", "searcher", "metric", "state", "targets", "trials", "created");
            foreach (var s in searches)
            {
                table.AddRow(Markup.Escape(s.SearchId), s.Kind, s.Searcher, s.Metric, s.State, $"{s.Targets}", $"{s.Trials}",
                    s.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            }
            io.Console.Write(table);
            return 0;
        }));
        search.Subcommands.Add(list);

        var status = WithId("status", "SEARCH", "Each target's state, trials, decisions and best trial so far.", SearchStatusAsync, io);
        var watch = new Option<bool>("--watch") { Description = "Follow the search with a progress bar per target until it ends." };
        status.Options.Add(watch);
        search.Subcommands.Add(status);
        search.Subcommands.Add(WithId("trials", "SEARCH", "Every trial: settings, rung, job state, metric at each rung completed.", SearchTrialsAsync, io, repeatable: true));
        search.Subcommands.Add(WithId("best", "SEARCH", "The best trial per target: its settings, metric, job (its model) and a submit line that trains it.", SearchBestAsync, io, repeatable: true));
        search.Subcommands.Add(WithId("decisions", "SEARCH", "Every decision the cluster took, numbered per target.", SearchDecisionsAsync, io, repeatable: true));
        search.Subcommands.Add(WithId("cancel", "SEARCH", "End a search: no new trial or promotion; its running trials are cancelled.", async (client, id, parse, io) =>
            await Report(io, parse, await client.GetGrain<ISearchGrain>(0).Cancel(id.Trim())), io));
        return search;
    }

    private static Command SearchStart(Io io, string kind, string name, string description)
    {
        var command = new Command(name, description);
        var traits = new Option<string?>("--traits") { Description = "Comma-separated trait names: one search each." };
        var profile = new Option<string>("--profile") { DefaultValueFactory = _ => JobSpec.DefaultProfile, Description = "The profile every trial starts from." };
        var set = new Option<string[]>("--set") { Description = "A fixed hyperparameter every trial gets: key=value (repeatable)." };
        var space = new Option<string[]>("--space")
        {
            Required = true,
            Description = "A dimension of the space (repeatable): name=choice(a,b,…), name=uniform(lo,hi), name=loguniform(lo,hi) or name=int(lo,hi).",
        };
        var searcher = new Option<string>("--searcher") { DefaultValueFactory = _ => Searchers.Asha, Description = "asha (default), random or grid." };
        var metric = new Option<string?>("--metric") { Description = "The metric to optimise, measured per epoch on a validation split (default: the kind's)." };
        var mode = new Option<string?>("--mode") { Description = "max or min (default: the metric's own direction)." };
        var minEpochs = new Option<int>("--min-epochs") { DefaultValueFactory = _ => 1, Description = "ASHA's first rung." };
        var maxEpochs = new Option<int>("--max-epochs") { DefaultValueFactory = _ => 0, Description = "The schedule every trial follows, and ASHA's last rung (default: the profile's epochs)." };
        var eta = new Option<int>("--eta") { DefaultValueFactory = _ => 3, Description = "ASHA's reduction factor η: rungs at min·η^k, the top 1/η promoted." };
        var maxTrials = new Option<int>("--max-trials") { DefaultValueFactory = _ => 0, Description = "Trials per target (default: 20; a grid's size for grid)." };
        var maxConcurrent = new Option<int>("--max-concurrent") { DefaultValueFactory = _ => 4, Description = "Trials of one target queued or running at once." };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "Draws the random and ASHA configurations: the same seed, the same trials." };
        var priority = new Option<int>("--priority") { DefaultValueFactory = _ => 0, Description = "The trials' priority: higher runs first." };
        var id = new Option<string?>("--id") { Description = "Your own search id: starting it again changes nothing (idempotent)." };
        var watch = new Option<bool>("--watch") { Description = "Follow the search until it ends." };
        foreach (var option in new Option[] { profile, set, space, searcher, metric, mode, minEpochs, maxEpochs, eta, maxTrials, maxConcurrent, seed, priority, id, watch, JsonOption })
        {
            command.Options.Add(option);
        }
        if (kind == JobKinds.Trait)
        {
            command.Options.Add(traits);
        }
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var targets = (parse.GetValue(traits) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var chosen = parse.GetValue(searcher)!.Trim().ToLowerInvariant();
            var trials = parse.GetValue(maxTrials) is > 0 and var n ? n : chosen == Searchers.Grid ? 0 : 20;
            var spec = new SearchSpec(kind, targets, parse.GetValue(profile)!, JobParameters.ParseAssignments(parse.GetValue(set)),
                parse.GetValue(space)!, chosen, NullIfBlank(parse.GetValue(metric)), NullIfBlank(parse.GetValue(mode)),
                parse.GetValue(minEpochs), parse.GetValue(maxEpochs), parse.GetValue(eta), trials, parse.GetValue(maxConcurrent), parse.GetValue(seed), parse.GetValue(priority));
            var searchId = parse.GetValue(id) ?? $"search-{name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
            var created = await client.GetGrain<ISearchGrain>(0).Create(searchId, spec);
            if (created.Error is not null)
            {
                throw new UsageException(created.Error);
            }
            if (parse.GetValue(JsonOption))
            {
                await PrintJson(io, created, CliJson.Default.SearchCreated);
            }
            else
            {
                foreach (var note in created.Notes)
                {
                    io.Console.MarkupLine($"[grey]{Markup.Escape(note)}[/]");
                }
                io.Console.MarkupLine(created.Created
                    ? $"search [bold]{Markup.Escape(searchId)}[/]: {chosen} over {(created.Targets is [""] ? kind : string.Join(", ", created.Targets))}; its first trials are queued (punkgrid search status {Markup.Escape(searchId)})"
                    : $"search [bold]{Markup.Escape(searchId)}[/] already exists; nothing changed");
            }
            return parse.GetValue(watch) ? await WatchSearchAsync(client, searchId, io) : 0;
        }));
        return command;
    }

    private static async Task<SearchSummary> SearchSummaryAsync(IClusterClient client, string id) =>
        await client.GetGrain<ISearchGrain>(0).Status(id.Trim()) ?? throw new UsageException($"unknown search '{id}' (see `punkgrid search list`)");

    private static string Value(double? value) => value?.ToString("F4", CultureInfo.InvariantCulture) ?? "";

    private static string Settings(IReadOnlyDictionary<string, string>? parameters) =>
        parameters is null ? "" : string.Join(" ", parameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    private static async Task<int> SearchStatusAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        if (parse.GetValue<bool>("--watch"))
        {
            return await WatchSearchAsync(client, id, io);
        }
        var summary = await SearchSummaryAsync(client, id);
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, summary, CliJson.Default.SearchSummary);
        }
        io.Console.MarkupLine($"search [bold]{Markup.Escape(summary.SearchId)}[/]: {summary.State}, {summary.Searcher} over {summary.Kind} ({summary.Profile}), " +
            $"{summary.Metric} ({(summary.HigherIsBetter ? "higher" : "lower")} is better), rungs at {string.Join(", ", summary.RungEpochs)} epochs, " +
            $"{summary.MaxTrials} trials per target, {summary.MaxConcurrent} at once; run {Markup.Escape(summary.RunId)}");
        var table = new Table().AddColumns("target", "state", "trials", "running", "decisions", "epochs trained", "best trial", summary.Metric, "at epochs", "settings");
        foreach (var t in summary.Targets)
        {
            table.AddRow(Markup.Escape(t.Target.Length == 0 ? summary.Kind : t.Target), Markup.Escape(t.State), $"{t.Trials}", $"{t.Running}", $"{t.Decisions}", $"{t.EpochsTrained}",
                t.BestTrial?.ToString(CultureInfo.InvariantCulture) ?? "", Value(t.BestValue), t.BestEpochs?.ToString(CultureInfo.InvariantCulture) ?? "",
                Markup.Escape(Settings(t.BestParameters)));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> SearchTrialsAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var summary = await SearchSummaryAsync(client, id);
        var trials = await client.GetGrain<ISearchGrain>(0).Trials(summary.SearchId);
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, trials, CliJson.Default.IReadOnlyListSearchTrialView);
        }
        var table = new Table().AddColumns(["target", "trial", "status", "rung", "epoch", .. summary.RungEpochs.Select(e => $"@{e}"), "settings", "job"]);
        foreach (var t in trials)
        {
            table.AddRow([Markup.Escape(t.Target.Length == 0 ? summary.Kind : t.Target), $"{t.Trial}", t.Status, $"{t.Rung}", $"{t.Epoch}/{t.Epochs}",
                .. summary.RungEpochs.Select((_, rung) => t.Results.TryGetValue(rung, out var v) ? Value(v) : ""),
                Markup.Escape(Settings(t.Parameters)), Markup.Escape(t.JobId)]);
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> SearchBestAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var summary = await SearchSummaryAsync(client, id);
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, summary.Targets, CliJson.Default.IReadOnlyListSearchTargetSummary);
        }
        var table = new Table().AddColumns("target", "trial", summary.Metric, "at epochs", "settings", "job (its model)");
        foreach (var t in summary.Targets.Where(t => t.BestTrial is not null))
        {
            table.AddRow(Markup.Escape(t.Target.Length == 0 ? summary.Kind : t.Target), $"{t.BestTrial}", Value(t.BestValue),
                $"{t.BestEpochs}", Markup.Escape(Settings(t.BestParameters)), Markup.Escape(t.BestJobId ?? ""));
        }
        io.Console.Write(table);
        await io.Out.WriteLineAsync($"train them as a run: punkgrid submit {(summary.Kind == JobKinds.Trait ? "traits" : summary.Kind)} --from-search {summary.SearchId}");
        return 0;
    }

    private static async Task<int> SearchDecisionsAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var summary = await SearchSummaryAsync(client, id);
        var decisions = await client.GetGrain<ISearchGrain>(0).Decisions(summary.SearchId);
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, decisions, CliJson.Default.IReadOnlyListSearchDecisionView);
        }
        var table = new Table().AddColumns("target", "#", "action", "detail", "at");
        foreach (var d in decisions)
        {
            table.AddRow(Markup.Escape(d.Target.Length == 0 ? summary.Kind : d.Target), $"{d.Sequence}", d.Action, Markup.Escape(d.Detail),
                d.DecidedAt.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture));
        }
        io.Console.Write(table);
        return 0;
    }

    /// <summary>A progress bar per target (trials ended of its budget, the best so far) until the search ends; a line per change when redirected.</summary>
    private static async Task<int> WatchSearchAsync(IClusterClient client, string id, Io io)
    {
        var summary = await SearchSummaryAsync(client, id);
        string Line(SearchTargetSummary t) => $"{Markup.Escape(t.Target.Length == 0 ? summary.Kind : t.Target)}: {t.Trials - t.Running}/{summary.MaxTrials} trials ended, {t.Running} running" +
            (t.BestValue is { } best ? $", best {summary.Metric} {Value(best)} (trial {t.BestTrial})" : "");
        if (io.Interactive)
        {
            await io.Console.Progress().AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async progress =>
                {
                    var tasks = summary.Targets.ToDictionary(t => t.Target, t => progress.AddTask(Line(t), maxValue: summary.MaxTrials));
                    while (true)
                    {
                        foreach (var t in summary.Targets)
                        {
                            tasks[t.Target].Value = t.State == "Running" ? t.Trials - t.Running : summary.MaxTrials;
                            tasks[t.Target].Description = Line(t);
                        }
                        if (summary.State != "Running")
                        {
                            break;
                        }
                        await Task.Delay(1000);
                        summary = await SearchSummaryAsync(client, id);
                    }
                });
        }
        else
        {
            var last = "";
            while (true)
            {
                var line = string.Join("; ", summary.Targets.Select(Line));
                if (line != last)
                {
                    await io.Out.WriteLineAsync($"{DateTime.Now:HH:mm:ss} search {id}: {line}");
                    last = line;
                }
                if (summary.State != "Running")
                {
                    break;
                }
                await Task.Delay(1000);
                summary = await SearchSummaryAsync(client, id);
            }
        }
        io.Console.MarkupLine($"search [bold]{Markup.Escape(id)}[/] ended: {summary.State}");
        return 0;
    }
}
