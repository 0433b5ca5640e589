namespace PunkGrid.Client;

/// <summary><c>punkgrid metrics|artifacts</c>: what a job stored while it trained.</summary>
public static partial class PunkGridCommandLine
{
    private static Command MetricsCommand(Io io)
    {
        var command = new Command("metrics", "A job's metrics (every attempt's), step by step.");
        var id = new Argument<string>("job");
        var name = new Option<string?>("--name") { Description = "Only this metric (e.g. train_loss, test_f1)." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV: attempt,epoch,step,name,value." };
        command.Arguments.Add(id);
        command.Options.Add(name);
        command.Options.Add(csv);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var job = client.GetGrain<IJobGrain>(parse.GetValue(id)!);
            if (await job.GetDetail() is null)
            {
                throw UnknownJob(parse.GetValue(id)!);
            }
            // Page through every point (the server sends at most a page at a time).
            var points = new List<MetricPoint>();
            var query = new MetricQuery(parse.GetValue(name), Limit: MetricQuery.MaxLimit);
            while (true)
            {
                var page = await job.GetMetrics(query);
                points.AddRange(page.Points);
                if (page.NextAfterStep is not { } next)
                {
                    break;
                }
                query = query with { AfterStep = next };
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, points, CliJson.Default.ListMetricPoint);
            }
            if (parse.GetValue(csv))
            {
                await io.Out.WriteLineAsync("attempt,epoch,step,name,value");
                foreach (var p in points)
                {
                    await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{p.Attempt},{p.Epoch},{p.Step},{p.Name},{p.Value:R}"));
                }
                return 0;
            }
            // Table: the last value of each metric per epoch.
            var table = new Table().AddColumns("epoch", "step", "metric", "value", "attempt");
            foreach (var group in points.GroupBy(p => (p.Epoch, p.Name)).OrderBy(g => g.Key.Epoch).ThenBy(g => g.Key.Name, StringComparer.Ordinal))
            {
                var p = group.MaxBy(x => (x.Step, x.Attempt))!;
                table.AddRow($"{p.Epoch}", $"{p.Step}", p.Name, p.Value.ToString("G6", CultureInfo.InvariantCulture), $"{p.Attempt}");
            }
            table.Caption($"{points.Count} points; last value per epoch shown (--csv for all)");
            io.Console.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command ArtifactsCommand(Io io)
    {
        var command = new Command("artifacts", "List a job's artifacts, or save them with --out DIR.");
        var id = new Argument<string>("job");
        var output = new Option<string?>("--out") { Description = "Folder to write the artifacts into." };
        command.Arguments.Add(id);
        command.Options.Add(output);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var job = client.GetGrain<IJobGrain>(parse.GetValue(id)!);
            if (await job.GetDetail() is null)
            {
                throw UnknownJob(parse.GetValue(id)!);
            }
            var artifacts = await job.GetArtifacts();
            if (parse.GetValue(output) is { } folder)
            {
                if (File.Exists(folder))
                {
                    throw new UsageException($"--out '{folder}' is a file; give a folder to write the artifacts into (it is created if missing)");
                }
                Directory.CreateDirectory(folder);
                var root = Path.GetFullPath(folder);
                foreach (var info in artifacts)
                {
                    // Only a plain file name lands, and only inside --out: never a path the server chose.
                    var target = Path.GetFullPath(Path.Combine(root, info.Name));
                    if (info.Name.Length == 0 || Path.GetFileName(info.Name) != info.Name || info.Name is "." or ".." || Path.GetDirectoryName(target) != root.TrimEnd(Path.DirectorySeparatorChar))
                    {
                        await io.Error.WriteLineAsync($"skipped artifact '{info.Name}': not a plain file name");
                        continue;
                    }
                    var content = await job.GetArtifact(info.Name);
                    if (content is not null)
                    {
                        await File.WriteAllBytesAsync(target, content.Content, cancellation);
                        await io.Error.WriteLineAsync($"wrote {Path.Combine(folder, info.Name)} ({info.SizeBytes} bytes)");
                    }
                }
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, artifacts, CliJson.Default.IReadOnlyListArtifactInfo);
            }
            var table = new Table().AddColumns("name", "type", "bytes", "sha256", "attempt");
            foreach (var a in artifacts)
            {
                table.AddRow(Markup.Escape(a.Name), Markup.Escape(a.ContentType), $"{a.SizeBytes}", a.Sha256[..16], $"{a.Attempt}");
            }
            io.Console.Write(table);
            return 0;
        }));
        return command;
    }
}
