using System.Text.Json;

namespace PunkGrid.Client;

/// <summary><c>punkgrid logs JOB [--attempt N] [--tail N] [--follow]</c>: what a job's trainer and worker said, from PostgreSQL.</summary>
public static partial class PunkGridCommandLine
{
    private static readonly TimeSpan FollowInterval = TimeSpan.FromSeconds(1);

    private static Command LogsCommand(Io io)
    {
        var command = new Command("logs", "A job's log: start and resume, epochs, warnings, the exception that failed it, lost leases (every attempt's).");
        var id = new Argument<string>("job");
        var attempt = new Option<int?>("--attempt") { Description = "Only this attempt's lines." };
        var tail = new Option<int?>("--tail") { Description = "Only the newest N lines (then, with --follow, the new ones)." };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines until the job ends (Ctrl-C stops)." };
        var json = new Option<bool>("--json") { Description = "One JSON object per line (JSON Lines)." };
        command.Arguments.Add(id);
        command.Options.Add(attempt);
        command.Options.Add(tail);
        command.Options.Add(follow);
        command.Options.Add(json);
        command.Validators.Add(result =>
        {
            if (result.GetValue(attempt) is < 1)
            {
                result.AddError($"--attempt {result.GetValue(attempt)} is not allowed: an attempt number, 1 or more");
            }
            if (result.GetValue(tail) is { } n && n is < 1 or > JobLogQuery.MaxLimit)
            {
                result.AddError($"--tail {n} is not allowed: 1 to {JobLogQuery.MaxLimit}");
            }
        });
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var jobId = parse.GetValue(id)!;
            var job = client.GetGrain<IJobGrain>(jobId);
            var asJson = parse.GetValue(json);
            var query = parse.GetValue(tail) is { } newest
                ? new JobLogQuery(Attempt: parse.GetValue(attempt), Limit: newest, Tail: true)
                : new JobLogQuery(Attempt: parse.GetValue(attempt), Limit: JobLogQuery.MaxLimit);
            var first = true;
            JobState? ended = null;
            try
            {
                while (true)
                {
                    var page = await job.GetLogs(query) ?? throw UnknownJob(jobId);
                    if (first && page.Dropped > 0 && !asJson)
                    {
                        await io.Error.WriteLineAsync($"({page.Dropped} older line(s) of this job were dropped by the log's bound)");
                    }
                    first = false;
                    foreach (var line in page.Lines)
                    {
                        await io.Out.WriteLineAsync(asJson ? JsonSerializer.Serialize(line, CliJsonLines.Default.JobLogLine) : FormatLogLine(line));
                    }
                    query = query with { After = page.Next, Tail = false, Limit = JobLogQuery.MaxLimit };
                    if (page.More && page.Lines.Count > 0)
                    {
                        continue;
                    }
                    if (!parse.GetValue(follow))
                    {
                        return 0;
                    }
                    if (ended is { } state)
                    {
                        if (!asJson)
                        {
                            await io.Error.WriteLineAsync($"(job {jobId} is {state})");
                        }
                        return 0;
                    }
                    // Following: once the job has ended, one more read (to its end) takes the lines written as it ended.
                    var detail = await job.GetDetail() ?? throw UnknownJob(jobId);
                    if (detail.Job.State is not (JobState.Queued or JobState.Running))
                    {
                        ended = detail.Job.State;
                        continue;
                    }
                    await Task.Delay(FollowInterval, cancellation);
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                return 0;
            }
        }));
        return command;
    }

    /// <summary><c>2026-12-06 14:00:01.123Z #2 Information trainer  message</c>; a later line of a message (a stack) is indented.</summary>
    internal static string FormatLogLine(JobLogLine line)
    {
        var attempt = line.Superseded ? $"#{line.Attempt} (superseded)" : $"#{line.Attempt}";
        var head = string.Create(CultureInfo.InvariantCulture, $"{line.At.UtcDateTime:yyyy-MM-dd HH:mm:ss.fff}Z {attempt} {line.Level,-11} {line.Source,-7} ");
        return head + line.Message.ReplaceLineEndings(Environment.NewLine + "    ");
    }
}
