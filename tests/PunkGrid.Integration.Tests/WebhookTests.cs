using System.Text.Json;
using PunkGrid.Client;
using PunkGrid.Contracts;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Webhooks on a real two-silo cluster, to a receiver on loopback: every event arrives signed, through the receiver's
/// failures and timeouts (at least once, each repeat with the same event id), and through the delivering silo's death.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class WebhookTests(ClusterFixture cluster)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    /// <summary>Adds a hook to the receiver through the CLI; returns its name after giving the receiver the secret.</summary>
    internal static async Task<string> AddHookAsync(ClusterFixture cluster, WebhookReceiver receiver, string name, string events)
    {
        receiver.Secret = await AddHookAsync(cluster, receiver.Url, name, events);
        return name;
    }

    /// <summary>Adds a hook through the CLI; returns its secret.</summary>
    internal static async Task<string> AddHookAsync(ClusterFixture cluster, Uri url, string name, string events)
    {
        var add = await cluster.Cli("hooks", "add", "--name", name, "--url", url.ToString(), "--events", events, "--json");
        Assert.True(add.Exit == 0, add.Error);
        var secret = JsonDocument.Parse(add.Out).RootElement.GetProperty("secret").GetString()!;
        Assert.StartsWith("pgwh_", secret);
        return secret;
    }

    internal static async Task<IReadOnlyList<JsonElement>> DeliveriesAsync(ClusterFixture cluster, string hook)
    {
        var list = await cluster.Cli("hooks", "deliveries", hook, "--json");
        Assert.True(list.Exit == 0, list.Error);
        return JsonDocument.Parse(list.Out).RootElement.EnumerateArray().ToList();
    }

    [Fact]
    public async Task A_receiver_that_is_down_then_fails_then_times_out_then_recovers_gets_every_event_signed_under_one_id()
    {
        // The receiver is down when the event happens: nothing listens where the hook posts.
        var port = WebhookReceiver.FreePort();
        var secret = await AddHookAsync(cluster, WebhookReceiver.UrlAt(port), "flaky", "run.finished,run.failed");
        const string hook = "flaky";
        WebhookReceiver? receiver = null;
        try
        {
            Assert.Equal(0, (await cluster.Cli("submit", "noop", "--set", "duration_ms=200", "--run-id", "hook-ok")).Exit);
            await cluster.WaitUntilAsync(async () => (await DeliveriesAsync(cluster, hook)) is [var d] && d.GetProperty("attempts").GetInt32() >= 2
                && d.GetProperty("last_error").GetString() is { Length: > 0 }, Bound, "deliveries to the receiver while it is down to fail");
            var whileDown = Assert.Single(await DeliveriesAsync(cluster, hook));
            Assert.Equal(JsonValueKind.Null, whileDown.GetProperty("delivered_at").ValueKind);

            // It comes back where it was: its first answer is an error, its second too late (the silos wait 2 s), then it works.
            receiver = new WebhookReceiver(port)
            {
                Secret = secret,
                Answer = n => n switch { 0 => (500, TimeSpan.Zero), 1 => (200, TimeSpan.FromSeconds(4)), _ => (200, TimeSpan.Zero) },
            };
            await cluster.WaitUntilAsync(async () => (await DeliveriesAsync(cluster, hook)).Any(d => d.GetProperty("delivered_at").ValueKind != JsonValueKind.Null),
                Bound, "the run.finished event to be delivered");

            var tries = receiver.Requests.Where(r => r.Body.GetProperty("data").GetProperty("run_id").GetString() == "hook-ok").ToList();
            Assert.True(tries.Count >= 3, $"{tries.Count} tries");
            Assert.Single(tries.Select(t => t.EventId).Distinct()); // a repeat carries the same id
            Assert.All(tries, t => Assert.True(t.SignatureValid, t.Raw));
            Assert.All(tries, t => Assert.Equal((WebhookEvents.RunFinished, t.EventId.ToString()), (t.EventType, t.Body.GetProperty("id").GetString())));
            Assert.Equal(tries.Select(t => t.Attempt).Order(), tries.Select(t => t.Attempt)); // each try numbered after the ones before
            Assert.True(tries[0].Attempt >= whileDown.GetProperty("attempts").GetInt32() + 1);
            Assert.Equal(1, tries[0].Body.GetProperty("data").GetProperty("jobs").GetProperty("Succeeded").GetInt32());
            var delivered = Assert.Single(await DeliveriesAsync(cluster, hook));
            Assert.Equal(200, delivered.GetProperty("last_status").GetInt32());
            Assert.True(delivered.GetProperty("attempts").GetInt32() >= tries.Count + 2); // the tries while it was down count too

            // A failing run: run.failed, straight through now.
            Assert.Equal(0, (await cluster.Cli("submit", "noop", "--set", "duration_ms=200", "--set", "fault=throw", "--run-id", "hook-fail")).Exit);
            await cluster.WaitUntilAsync(() => Task.FromResult(receiver.Requests.Any(r => r.EventType == WebhookEvents.RunFailed)), Bound, "the run.failed event");
            var failed = receiver.Requests.Single(r => r.EventType == WebhookEvents.RunFailed);
            Assert.Equal(("hook-fail", 1), (failed.Body.GetProperty("data").GetProperty("run_id").GetString(), failed.Body.GetProperty("data").GetProperty("jobs").GetProperty("Failed").GetInt32()));
            Assert.True(failed.SignatureValid);

            var hooks = await cluster.Cli("hooks", "list");
            Assert.Contains("flaky", hooks.Out);
            Assert.DoesNotContain(secret, hooks.Out);
            // The secret is never logged.
            foreach (var silo in cluster.Silos)
            {
                await using var log = new FileStream(silo.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                Assert.DoesNotContain(secret, await new StreamReader(log).ReadToEndAsync());
            }
            var ping = await cluster.Cli("hooks", "ping", hook);
            Assert.True(ping.Exit == 0, ping.Error);
            await cluster.WaitUntilAsync(() => Task.FromResult(receiver.Requests.Any(r => r.EventType == WebhookEvents.Ping)), Bound, "the ping");
        }
        finally
        {
            await cluster.Cli("hooks", "remove", hook);
            receiver?.Dispose();
        }
    }

    [Theory]
    [InlineData(new[] { "hooks", "add", "--url", "ftp://example.com/x", "--events", "run.finished" }, "url 'ftp://example.com/x' is not allowed: an absolute http:// or https:// URL")]
    [InlineData(new[] { "hooks", "add", "--url", "http://127.0.0.1:9/x", "--events", "run.done" }, "unknown event 'run.done': the events are run.finished, run.failed, job.quarantined, schedule.missed, schedule.failed")]
    [InlineData(new[] { "hooks", "add", "--name", "bad name", "--url", "http://127.0.0.1:9/x", "--events", "run.failed" }, "webhook name 'bad name' is not allowed")]
    [InlineData(new[] { "hooks", "remove", "no-such-hook" }, "unknown webhook 'no-such-hook'")]
    [InlineData(new[] { "hooks", "ping", "no-such-hook" }, "unknown webhook 'no-such-hook'")]
    [InlineData(new[] { "hooks", "deliveries", "--limit", "0" }, "--limit 0 is not allowed: 1 to 1000")]
    public async Task Bad_webhook_input_gets_a_clear_error_and_exit_code_2(string[] args, string expected)
    {
        var (exit, _, error) = await cluster.Cli(args);
        Assert.Equal(PunkGridCommandLine.BadInput, exit);
        Assert.Contains(expected, error);
    }
}

/// <summary>The delivering silo killed mid-delivery: the other silo delivers the event once the claim expires, under the same id.</summary>
[Collection(KillCollection.Name)]
public sealed class WebhookKillTests(KillFixture cluster)
{
    [Fact]
    public async Task An_event_whose_delivering_silo_is_killed_is_delivered_by_the_other_silo()
    {
        await cluster.ReplaceExitedSilosAsync();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var receiver = new WebhookReceiver();
        // The first delivery is held (the silo waits up to 2 s) while the test kills the silo posting it.
        receiver.Answer = n =>
        {
            if (n == 0)
            {
                held.TrySetResult();
                return (200, TimeSpan.FromSeconds(5));
            }
            return (200, TimeSpan.Zero);
        };
        var hook = await WebhookTests.AddHookAsync(cluster, receiver, "kill-hook", "run.finished");
        try
        {
            Assert.Equal(0, (await cluster.Cli("submit", "noop", "--set", "duration_ms=200", "--run-id", "hook-kill")).Exit);
            await held.Task.WaitAsync(TimeSpan.FromSeconds(90));
            var claimedBy = await cluster.ScalarAsync("select claimed_by from webhook_outbox where hook = @id", hook);
            var victim = cluster.Silos.Single(s => claimedBy.Contains($":{s.Addresses.Silo}:", StringComparison.Ordinal));
            victim.Kill();

            await cluster.WaitUntilAsync(async () =>
                await cluster.CountAsync("select count(*) from webhook_outbox where hook = @id and delivered_at is not null", hook) == 1,
                TimeSpan.FromSeconds(60), "the other silo to deliver the event");
            var tries = receiver.Requests.ToList();
            Assert.True(tries.Count >= 2, $"{tries.Count} tries");
            Assert.Single(tries.Select(t => t.EventId).Distinct());
            Assert.All(tries, t => Assert.True(t.SignatureValid));
            var survivor = cluster.Silos.Single(s => s != victim);
            await using var log = new FileStream(survivor.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Assert.Matches($"Webhook kill-hook: run.finished {tries[0].EventId} delivered to", await new StreamReader(log).ReadToEndAsync());
        }
        finally
        {
            await cluster.Cli("hooks", "remove", hook);
        }
    }
}
