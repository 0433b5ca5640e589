using System.Text.RegularExpressions;

namespace PunkGrid.Client;

/// <summary><c>punkgrid gc --older-than AGE [--dry-run]</c>: retention of old runs' logs, metric points and checkpoints.</summary>
public static partial class PunkGridCommandLine
{
    [GeneratedRegex(@"^(?<n>[0-9]+(\.[0-9]+)?)(?<unit>s|m|h|d|w)$")]
    private static partial Regex AgePattern();

    /// <summary><c>90s</c>, <c>45m</c>, <c>12h</c>, <c>30d</c>, <c>2w</c>, or a .NET time span (<c>1.00:00:00</c>).</summary>
    internal static TimeSpan ParseAge(string text)
    {
        if (AgePattern().Match(text) is { Success: true } m)
        {
            var n = double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            var age = m.Groups["unit"].Value switch
            {
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                "d" => TimeSpan.FromDays(n),
                _ => TimeSpan.FromDays(7 * n),
            };
            if (age > TimeSpan.Zero)
            {
                return age;
            }
        }
        else if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }
        throw new UsageException($"--older-than '{text}' is not allowed: a positive age such as 90s, 45m, 12h, 30d or 2w");
    }

    private static Command GcCommand(Io io)
    {
        var command = new Command("gc", "Retention: runs that ended before --older-than lose their jobs' logs, metric points between epoch ends and checkpoints (results, artifacts and models stay).");
        var olderThan = new Option<string>("--older-than") { Description = "Age of the runs to collect: 90s, 45m, 12h, 30d, 2w.", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only say what would be removed." };
        command.Options.Add(olderThan);
        command.Options.Add(dryRun);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var age = ParseAge(parse.GetValue(olderThan)!);
            var retention = client.GetGrain<IRetentionGrain>(0);
            var request = new RetentionRequest(age, DryRun: parse.GetValue(dryRun));
            var reports = new List<RetentionReport>();
            // Another silo's timer may hold the collection for a moment: wait for it (a minute at most).
            for (var busy = 0; ; busy++)
            {
                var report = await retention.Collect(request);
                if (report is null)
                {
                    if (busy == 60)
                    {
                        throw new UsageException("retention is busy on another silo (PunkGrid:Retention's timer) for over a minute; try again later");
                    }
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
                    continue;
                }
                reports.Add(report);
                request = request with { Cutoff = report.Cutoff };
                if (report.Remaining == 0)
                {
                    break;
                }
                await io.Error.WriteLineAsync($"… {reports.Sum(r => r.Runs.Count)} run(s) collected, {report.Remaining} to go");
            }
            var total = new RetentionReport(reports[0].Cutoff, request.DryRun, reports.SelectMany(r => r.Runs).ToList(), reports.Sum(r => r.LogLines),
                reports.Sum(r => r.MetricPoints), reports.Sum(r => r.Checkpoints), reports.Sum(r => r.CheckpointBytes), 0);
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, total, CliJson.Default.RetentionReport);
            }
            var verb = total.DryRun ? "would remove" : "removed";
            await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{total.Runs.Count} run(s) ended before {total.Cutoff.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z: {verb} {total.LogLines} log line(s), {total.MetricPoints} metric point(s) between epoch ends, {total.Checkpoints} checkpoint(s) ({total.CheckpointBytes / 1e6:F1} MB); their runs, results, artifacts and models stay"));
            foreach (var run in total.Runs)
            {
                await io.Out.WriteLineAsync($"  {run}");
            }
            return 0;
        }));
        return command;
    }
}
