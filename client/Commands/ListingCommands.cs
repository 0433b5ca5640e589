namespace PunkGrid.Client;

/// <summary><c>punkgrid runs|status|jobs|workers|results</c>: what the cluster holds, as tables or <c>--json</c>.</summary>
public static partial class PunkGridCommandLine
{
    private static async Task<int> RunsAsync(IClusterClient client, ParseResult parse, Io io)
    {
        var runs = (await client.GetGrain<ICatalogGrain>(0).ListRuns(parse.GetValue<int>("--limit"))).Items;
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, runs, CliJson.Default.IReadOnlyListRunSummary);
        }
        var table = new Table().AddColumns("run", "kind", "profile", "state", "jobs", "queued", "running", "succeeded", "failed", "cancelled", "progress", "created");
        foreach (var r in runs)
        {
            table.AddRow(Markup.Escape(r.RunId), r.Kind, r.Profile, r.State, $"{r.Total}", $"{r.Queued}", $"{r.Running}", $"{r.Succeeded}", $"{r.Failed}", $"{r.Cancelled}",
                $"{r.Progress:P0}", r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> StatusAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var run = await client.GetGrain<IRunGrain>(id).GetSummary();
        if (run is not null)
        {
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, run, CliJson.Default.RunSummary);
            }
            io.Console.MarkupLine($"run [bold]{Markup.Escape(run.RunId)}[/] ({run.Kind}, profile {run.Profile}, priority {run.Priority}): [bold]{run.State}[/], {run.Progress:P0}");
            io.Console.MarkupLine($"  {run.Total} jobs: {run.Queued} queued, {run.Running} running, {run.Succeeded} succeeded, {run.Failed} failed, {run.Cancelled} cancelled");
            return 0;
        }
        var job = await client.GetGrain<IJobGrain>(id).GetDetail() ?? throw new UsageException($"unknown run or job '{id}' (see `punkgrid runs`, `punkgrid jobs RUN`)");
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, job, CliJson.Default.JobDetail);
        }
        var j = job.Job;
        io.Console.MarkupLine($"job [bold]{Markup.Escape(j.JobId)}[/] ({Markup.Escape(job.Spec.DisplayName)}, profile {job.Spec.Profile}): [bold]{j.State}[/], attempt {j.Attempt} ({j.LostLeases} lost lease(s), {j.Failures}/{j.MaxFailures} failures), epoch {j.Epoch}/{j.TotalEpochs}, {j.Progress:P0}");
        if (j.Error is not null)
        {
            io.Console.MarkupLine($"  last error: {Markup.Escape(j.Error)}");
        }
        var table = new Table().AddColumns("at", "attempt", "from", "to", "worker", "detail");
        foreach (var e in job.Events)
        {
            table.AddRow(e.At.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture), $"{e.Attempt}", e.FromState ?? "", e.ToState, Markup.Escape(e.WorkerId ?? ""), Markup.Escape(e.Detail ?? ""));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<IReadOnlyList<JobSummary>> RequireJobs(IClusterClient client, string runId)
    {
        var run = client.GetGrain<IRunGrain>(runId);
        if (await run.GetSummary() is null)
        {
            throw UnknownRun(runId);
        }
        return await run.GetJobs();
    }

    private static async Task<int> JobsAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var jobs = await RequireJobs(client, id);
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, jobs, CliJson.Default.IReadOnlyListJobSummary);
        }
        var table = new Table().AddColumns("job", "target", "state", "attempt", "lost", "failures", "epoch", "progress", "worker", "result", "error");
        foreach (var j in jobs)
        {
            table.AddRow(Markup.Escape(j.JobId), Markup.Escape(j.Target ?? ""), j.State.ToString(), $"{j.Attempt}", $"{j.LostLeases}", $"{j.Failures}/{j.MaxFailures}", $"{j.Epoch}/{j.TotalEpochs}",
                $"{j.Progress:P0}", Markup.Escape(j.WorkerId ?? ""), string.Join(", ", j.Summary.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:G4}"))),
                Markup.Escape(j.Error ?? ""));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> WorkersAsync(IClusterClient client, ParseResult parse, Io io)
    {
        var workers = await client.GetGrain<ICatalogGrain>(0).ListWorkers();
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, workers, CliJson.Default.IReadOnlyListWorkerView);
        }
        var table = new Table().AddColumns("worker", "silo", "device", "slots", "running", "last heartbeat", "alive");
        foreach (var w in workers)
        {
            table.AddRow(Markup.Escape(w.WorkerId), Markup.Escape(w.Silo), w.Device, $"{w.Slots}", $"{w.Running}",
                w.LastHeartbeat.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture), w.Alive ? "yes" : "no");
        }
        io.Console.Write(table);
        return 0;
    }

    private static Command ResultsCommand(Io io)
    {
        var command = new Command("results", "The per-trait accuracy/precision/recall/F1 table of a sweep; several runs side by side with --format md.");
        var runs = new Argument<string[]>("runs") { Description = "RUN [RUN...]: the sweep(s).", Arity = ArgumentArity.OneOrMore };
        var format = new Option<string>("--format") { Description = "table (default) or md: Markdown, as docs/RESULTS.md holds it (runs side by side, a summary line each).", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "md");
        var threshold = new Option<double>("--threshold") { Description = "With --format md: count the traits at F1 of at least this (default 0.95).", DefaultValueFactory = _ => 0.95 };
        command.Arguments.Add(runs);
        command.Options.Add(format);
        command.Options.Add(threshold);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var ids = parse.GetValue(runs)!;
            var results = new List<(string Run, IReadOnlyList<TraitResultRow> Rows)>();
            foreach (var id in ids)
            {
                if (await client.GetGrain<IRunGrain>(id).GetSummary() is null)
                {
                    throw UnknownRun(id);
                }
                results.Add((id, await client.GetGrain<IRunGrain>(id).GetResults()));
            }
            if (parse.GetValue(JsonOption))
            {
                return results.Count == 1
                    ? await PrintJson(io, results[0].Rows, CliJson.Default.IReadOnlyListTraitResultRow)
                    : await PrintJson(io, results.ToDictionary(r => r.Run, r => r.Rows, StringComparer.Ordinal), CliJson.Default.DictionaryStringIReadOnlyListTraitResultRow);
            }
            if (parse.GetValue(format) == "md")
            {
                await io.Out.WriteAsync(ResultsMarkdown.Render(results, parse.GetValue(threshold)));
                return 0;
            }
            foreach (var (run, rows) in results)
            {
                RenderResults(io, run, rows);
            }
            return 0;
        }));
        return command;
    }

    private static void RenderResults(Io io, string runId, IReadOnlyList<TraitResultRow> rows)
    {
        static string F(double? v) => v?.ToString("F4", CultureInfo.InvariantCulture) ?? "";
        var table = new Table().Title($"results of {Markup.Escape(runId)} (held-out split)").AddColumns("trait", "state", "accuracy", "precision", "recall", "f1", "test positives", "seconds");
        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Trait), r.State.ToString(), F(r.Accuracy), F(r.Precision), F(r.Recall), F(r.F1), r.TestPositives?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.Seconds?.ToString("F1", CultureInfo.InvariantCulture) ?? "");
        }
        var done = rows.Where(r => r.F1 is not null).ToList();
        if (done.Count > 0)
        {
            table.Caption($"{done.Count} evaluated; mean accuracy {done.Average(r => r.Accuracy!.Value):F4}, mean F1 {done.Average(r => r.F1!.Value):F4}");
        }
        io.Console.Write(table);
    }
}
