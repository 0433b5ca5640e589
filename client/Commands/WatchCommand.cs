namespace PunkGrid.Client;

/// <summary><c>punkgrid watch RUN</c>: live progress bars until the run finishes (one line per change when output is redirected).</summary>
public static partial class PunkGridCommandLine
{
    private static async Task<int> WatchAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var run = client.GetGrain<IRunGrain>(id);
        if (await run.GetSummary() is null)
        {
            throw UnknownRun(id);
        }
        RunSnapshot? last = null;
        if (io.Interactive)
        {
            await io.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async progress =>
                {
                    var overall = progress.AddTask($"run {Markup.Escape(id)}", maxValue: 1.0);
                    var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                    await foreach (var snapshot in run.Watch(500))
                    {
                        last = snapshot;
                        var s = snapshot.Summary;
                        overall.Value = s.Progress;
                        overall.Description = $"run {Markup.Escape(id)}: {s.Succeeded}/{s.Total} done, {s.Running} running, {s.Queued} queued, {s.Failed} failed";
                        foreach (var job in snapshot.Jobs.Where(j => j.State != JobState.Queued))
                        {
                            if (!tasks.TryGetValue(job.JobId, out var task))
                            {
                                task = tasks[job.JobId] = progress.AddTask(Markup.Escape(job.Target ?? job.JobId), maxValue: 1.0);
                            }
                            task.Value = JobStates.IsFinal(job.State) ? 1.0 : job.Progress;
                            if (JobStates.IsFinal(job.State) && !task.IsFinished)
                            {
                                task.StopTask();
                            }
                            task.Description = $"{Markup.Escape(job.Target ?? job.JobId)} [grey]{job.State}{(job.Attempt > 1 ? $" (attempt {job.Attempt})" : "")}[/]";
                        }
                    }
                    overall.Value = 1.0;
                });
        }
        else
        {
            var lastLine = "";
            await foreach (var snapshot in run.Watch(1000))
            {
                last = snapshot;
                var s = snapshot.Summary;
                var line = $"{DateTime.Now:HH:mm:ss} run {id}: {s.Progress:P0} — {s.Succeeded}/{s.Total} succeeded, {s.Running} running, {s.Queued} queued, {s.Failed} failed, {s.Cancelled} cancelled";
                if (line[9..] != lastLine)
                {
                    await io.Out.WriteLineAsync(line);
                    lastLine = line[9..];
                }
            }
        }
        if (last is null)
        {
            throw UnknownRun(id);
        }
        io.Console.MarkupLine($"run [bold]{Markup.Escape(id)}[/] finished: {last.Summary.State}");
        return last.Summary.Failed > 0 ? 1 : 0;
    }
}
