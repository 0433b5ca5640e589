using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;

namespace PunkGrid.Integration.Tests;

/// <summary>Jobs' logs on a real PostgreSQL: attempts, superseded lines, the bound per job, cursors, and the silo's writer.</summary>
[Collection(PostgresCollection.Name)]
public sealed partial class JobLogTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;

    private static readonly WorkerRegistration W1 = new("w1", "silo-1", "cpu", 4, 1024);
    private static readonly WorkerRegistration W2 = new("w2", "silo-2", "cpu", 4, 1024);

    public async Task InitializeAsync() => database = await MigratedDatabase.CreateAsync(server, "joblogs");

    public async Task DisposeAsync() => await database.DisposeAsync();

    private async Task<string> NewJobAsync(string runId)
    {
        var job = new JobStore.NewJob($"{runId}.male", new JobSpec(JobKinds.Trait, "Male", "quick", new Dictionary<string, string>()), 0, 3, "any");
        Assert.True(await database.Jobs.CreateRunAsync(runId, new RunSpec(JobKinds.Trait, ["Male"], false, "quick", new Dictionary<string, string>(), 0), [job]));
        return job.JobId;
    }

    private static JobLogEntry Line(string job, int attempt, string message, string level = "Information") =>
        new(Guid.CreateVersion7(), job, attempt, DateTimeOffset.UtcNow, level, "trainer", message);

    [Fact]
    public async Task Lines_are_read_in_order_by_attempt_and_cursor_and_a_resent_batch_is_stored_once()
    {
        var job = await NewJobAsync("logs-order");
        Assert.Single(await database.Queue.LeaseAsync(W1, 1));
        var batch = Enumerable.Range(1, 5).Select(i => Line(job, 1, $"epoch {i}")).ToList();
        await database.Logs.WriteAsync(batch, 100);
        await database.Logs.WriteAsync(batch, 100); // the same batch again, as after a commit whose answer was lost

        var all = (await database.Logs.ReadAsync(job, new JobLogQuery()))!;
        Assert.Equal(["epoch 1", "epoch 2", "epoch 3", "epoch 4", "epoch 5"], all.Lines.Select(l => l.Message));
        Assert.False(all.More);
        Assert.Equal(all.Lines[^1].Id, all.Next);

        var first = (await database.Logs.ReadAsync(job, new JobLogQuery(Limit: 2)))!;
        Assert.Equal(["epoch 1", "epoch 2"], first.Lines.Select(l => l.Message));
        Assert.True(first.More);
        var rest = (await database.Logs.ReadAsync(job, new JobLogQuery(After: first.Next)))!;
        Assert.Equal(["epoch 3", "epoch 4", "epoch 5"], rest.Lines.Select(l => l.Message));
        var nothingNew = (await database.Logs.ReadAsync(job, new JobLogQuery(After: rest.Next)))!;
        Assert.Empty(nothingNew.Lines);
        Assert.Equal(rest.Next, nothingNew.Next);

        var tail = (await database.Logs.ReadAsync(job, new JobLogQuery(Limit: 2, Tail: true)))!;
        Assert.Equal(["epoch 4", "epoch 5"], tail.Lines.Select(l => l.Message));
        Assert.True(tail.More);

        Assert.Null(await database.Logs.ReadAsync("no-such-job", new JobLogQuery()));
        Assert.Empty((await database.Logs.ReadAsync(job, new JobLogQuery(Attempt: 2)))!.Lines);
    }

    [Fact]
    public async Task A_line_from_an_attempt_that_lost_the_job_is_kept_and_marked_superseded()
    {
        var job = await NewJobAsync("logs-superseded");
        var first = Assert.Single(await database.Queue.LeaseAsync(W1, 1));
        await database.Logs.WriteAsync([Line(job, 1, "attempt 1 trains")], 100);
        Assert.True(await database.Queue.ReleaseAsync(job, first.Attempt, "lease lost (test)"));
        var saidBeforeTheNextLease = Line(job, 1, "lease expired; requeued", "Warning");
        await Task.Delay(50);
        Assert.Equal(2, Assert.Single(await database.Queue.LeaseAsync(W2, 1)).Attempt);
        await Task.Delay(50);
        // Said before attempt 2 was leased, stored after (lines wait in a silo's memory): not superseded. Nor is what the
        // queue says about attempt 1 after attempt 2 started: only what an attempt says itself can be superseded.
        await database.Logs.WriteAsync([saidBeforeTheNextLease, Line(job, 1, "the queue on attempt 1") with { SaidByAttempt = false }], 100);
        // Attempt 1's worker, cut off until now, says why it stops; attempt 2 goes on.
        await database.Logs.WriteAsync([Line(job, 1, "attempt 1: lease lost; stopping", "Warning"), Line(job, 2, "attempt 2 resumes")], 100);

        var lines = (await database.Logs.ReadAsync(job, new JobLogQuery()))!.Lines;
        Assert.Equal([("attempt 1 trains", false), ("lease expired; requeued", false), ("the queue on attempt 1", false), ("attempt 1: lease lost; stopping", true), ("attempt 2 resumes", false)],
            lines.Select(l => (l.Message, l.Superseded)));
        Assert.Equal([1], (await database.Logs.ReadAsync(job, new JobLogQuery(Attempt: 1)))!.Lines.Select(l => l.Attempt).Distinct());
    }

    [Fact]
    public async Task A_job_keeps_its_newest_lines_up_to_the_bound_and_counts_the_dropped()
    {
        var job = await NewJobAsync("logs-bound");
        var other = await NewJobAsync("logs-bound-other");
        Assert.Equal(2, (await database.Queue.LeaseAsync(W1, 2)).Count);
        await database.Logs.WriteAsync(Enumerable.Range(1, 30).Select(i => Line(job, 1, $"line {i}")).Append(Line(other, 1, "other")).ToList(), 20);
        await database.Logs.WriteAsync(Enumerable.Range(31, 5).Select(i => Line(job, 1, $"line {i}")).ToList(), 20);

        var page = (await database.Logs.ReadAsync(job, new JobLogQuery()))!;
        Assert.Equal(Enumerable.Range(16, 20).Select(i => $"line {i}"), page.Lines.Select(l => l.Message));
        Assert.Equal(15, page.Dropped);
        var untouched = (await database.Logs.ReadAsync(other, new JobLogQuery()))!;
        Assert.Equal((1, 0L), (untouched.Lines.Count, untouched.Dropped));
        Assert.Equal(21, (await database.Logs.SizeAsync()).Lines);
        Assert.True((await database.Logs.SizeAsync()).Bytes > 0);

        // Deleting a run deletes its jobs' lines with them.
        await using var delete = database.DataSource.CreateCommand("delete from runs where run_id = 'logs-bound'");
        await delete.ExecuteNonQueryAsync();
        Assert.Equal(1, (await database.Logs.SizeAsync()).Lines);
    }

    /// <summary>
    /// The silo's writer: a job's logger writes to the silo's log and the job's; a flush waits for the lines; lines of a job
    /// that does not exist are skipped; long lines are cut, saying so.
    /// </summary>
    [Fact]
    public async Task The_writer_stores_what_a_jobs_logger_says_and_a_flush_waits_for_it()
    {
        var job = await NewJobAsync("logs-writer");
        Assert.Single(await database.Queue.LeaseAsync(W1, 1));
        var options = Options.Create(new JobLogOptions { MaxLineLength = 300, FlushInterval = TimeSpan.FromMinutes(1) });
        var writer = new JobLogWriter(database.Logs, options, NullLogger<JobLogWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        try
        {
            var silo = new CollectingLogger();
            ILogger log = new JobLogger(silo, writer, job, 1, "trainer");
            LogEpoch(log, 1);
            LogDetail(log);
            LogFailed(log, new InvalidOperationException("boom"));
            LogText(log, new string('x', 1000));
            LogText(new JobLogger(silo, writer, "no-such-job", 1, "worker"), "nowhere to go");
            Assert.True(await writer.FlushAsync(TimeSpan.FromSeconds(10))); // long before the flush interval

            var lines = (await database.Logs.ReadAsync(job, new JobLogQuery()))!.Lines;
            Assert.Equal(3, lines.Count);
            Assert.Equal(("epoch 1 done", "Information", "trainer", 1), (lines[0].Message, lines[0].Level, lines[0].Source, lines[0].Attempt));
            Assert.StartsWith("it failed" + Environment.NewLine + "System.InvalidOperationException: boom", lines[1].Message);
            Assert.Equal("Error", lines[1].Level);
            Assert.True(lines[2].Message.Length <= 300);
            Assert.Equal(new string('x', 260) + "… [740 more characters cut]", lines[2].Message);
            Assert.Equal(4, silo.Messages.Count(m => m.Level >= LogLevel.Information)); // the silo's own log has every line
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>While the database cannot take lines, the writer holds them up to its buffer (dropping the oldest, counted) and a flush gives up in time.</summary>
    [Fact]
    public async Task Without_a_database_the_writer_holds_a_bounded_buffer_and_a_flush_times_out()
    {
        var dead = new NpgsqlConnectionStringBuilder($"Host=127.0.0.1;Port={SiloProcess.FreePort()};Username=x;Password=y;Database=z") { Timeout = 1 };
        await using var nowhere = NpgsqlDataSource.Create(dead);
        var writer = new JobLogWriter(new JobLogStore(nowhere), Options.Create(new JobLogOptions { BufferLines = 100 }), NullLogger<JobLogWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 150; i++)
            {
                writer.Append("a.job", 1, LogLevel.Information, "trainer", $"line {i}");
            }
            Assert.Equal(50, writer.DroppedInMemory);
            Assert.False(await writer.FlushAsync(TimeSpan.FromSeconds(2)));
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void Job_log_settings_out_of_range_are_refused_naming_each()
    {
        var result = new JobLogOptions.Validator().Validate(null, new JobLogOptions { MaxLinesPerJob = 1, MaxLineLength = 10, MinimumLevel = LogLevel.None, FlushInterval = TimeSpan.Zero, BufferLines = 1 });
        Assert.True(result.Failed);
        foreach (var key in new[] { "MaxLinesPerJob 1", "MaxLineLength 10", "MinimumLevel None", "FlushInterval 00:00:00", "BufferLines 1" })
        {
            Assert.Contains($"PunkGrid:JobLogs:{key} is not allowed", result.FailureMessage);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "epoch {Epoch} done")]
    private static partial void LogEpoch(ILogger logger, int epoch);

    [LoggerMessage(Level = LogLevel.Debug, Message = "not stored (below the minimum level)")]
    private static partial void LogDetail(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "it failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Text}")]
    private static partial void LogText(ILogger logger, string text);
}
