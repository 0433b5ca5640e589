namespace PunkGrid.Client;

/// <summary><c>punkgrid hooks add|list|remove|deliveries|ping</c>: webhooks that the cluster posts its events to.</summary>
public static partial class PunkGridCommandLine
{
    private static Command HooksCommand(Io io)
    {
        var hooks = new Command("hooks", $"Webhooks: signed JSON posts of the cluster's events ({string.Join(", ", WebhookEvents.All)}).");

        var add = new Command("add", "Add a webhook; prints the secret its deliveries are signed with (once).");
        var url = new Option<string>("--url") { Description = "Where to post (http:// or https://).", Required = true };
        var events = new Option<string>("--events") { Description = $"Comma-separated: {string.Join(", ", WebhookEvents.All)}.", Required = true };
        var name = new Option<string?>("--name") { Description = "The hook's name (default: the URL's host and a short random suffix)." };
        add.Options.Add(url);
        add.Options.Add(events);
        add.Options.Add(name);
        add.Options.Add(JsonOption);
        add.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var target = parse.GetValue(url)!.Trim();
            var hookName = parse.GetValue(name)?.Trim() ?? DefaultHookName(target);
            var asked = parse.GetValue(events)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var added = await client.GetGrain<IWebhookGrain>(0).Add(hookName, new WebhookSpec(target, asked));
            if (!added.Ok)
            {
                throw new UsageException(added.Message);
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, added, CliJson.Default.WebhookAdded);
            }
            await io.Out.WriteLineAsync(added.Message);
            await io.Out.WriteLineAsync($"secret: {added.Secret}");
            await io.Error.WriteLineAsync("keep the secret: it is not shown again. Each delivery carries X-PunkGrid-Signature: sha256=HMAC-SHA256(secret, \"TIMESTAMP.BODY\") with TIMESTAMP from X-PunkGrid-Timestamp (docs/OPERATIONS.md#webhooks).");
            return 0;
        }));
        hooks.Subcommands.Add(add);

        var list = new Command("list", "The webhooks: URL, events, deliveries pending and done, the last error.");
        list.Options.Add(JsonOption);
        list.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var all = await client.GetGrain<IWebhookGrain>(0).List();
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, all, CliJson.Default.IReadOnlyListWebhookView);
            }
            var table = new Table().AddColumns("name", "url", "events", "pending", "delivered", "last delivered", "last error");
            foreach (var h in all)
            {
                table.AddRow(Markup.Escape(h.Name), Markup.Escape(h.Url), Markup.Escape(string.Join(",", h.Events)), $"{h.Pending}", $"{h.Delivered}",
                    h.LastDeliveredAt?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "", Markup.Escape(h.LastError ?? ""));
            }
            io.Console.Write(table);
            return 0;
        }));
        hooks.Subcommands.Add(list);

        var deliveries = new Command("deliveries", "The newest deliveries (of one hook, or all): event, attempts, delivered or next try, last error.");
        var hook = new Argument<string?>("name") { Description = "The webhook (default: all).", Arity = ArgumentArity.ZeroOrOne };
        var limit = new Option<int>("--limit") { DefaultValueFactory = _ => 50, Description = "How many (1-1000)." };
        deliveries.Arguments.Add(hook);
        deliveries.Options.Add(limit);
        deliveries.Options.Add(JsonOption);
        deliveries.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            if (parse.GetValue(limit) is < 1 or > 1000)
            {
                throw new UsageException($"--limit {parse.GetValue(limit)} is not allowed: 1 to 1000");
            }
            var rows = await client.GetGrain<IWebhookGrain>(0).Deliveries(parse.GetValue(hook), parse.GetValue(limit));
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, rows, CliJson.Default.IReadOnlyListWebhookDelivery);
            }
            var table = new Table().AddColumns("hook", "event", "event id", "created", "attempts", "delivered / next try", "last answer");
            foreach (var d in rows)
            {
                var when = d.DeliveredAt is { } done ? $"delivered {done.ToLocalTime():HH:mm:ss}" : $"next {d.NextAttemptAt?.ToLocalTime():HH:mm:ss}";
                table.AddRow(Markup.Escape(d.Hook), d.EventType, $"{d.EventId}", d.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                    $"{d.Attempts}", when, Markup.Escape(d.LastError ?? (d.LastStatus is { } s ? $"HTTP {s}" : "")));
            }
            io.Console.Write(table);
            return 0;
        }));
        hooks.Subcommands.Add(deliveries);

        hooks.Subcommands.Add(HookVerb("remove", "Delete a webhook with its undelivered events.", (grain, hookName) => grain.Remove(hookName), io));
        hooks.Subcommands.Add(HookVerb("ping", "Queue a ping event for one webhook, to check its receiver.", (grain, hookName) => grain.Ping(hookName), io));
        return hooks;
    }

    private static Command HookVerb(string verb, string description, Func<IWebhookGrain, string, Task<CommandResult>> action, Io io)
    {
        var command = new Command(verb, description);
        var name = new Argument<string>("name") { Description = "The webhook." };
        command.Arguments.Add(name);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
            await Report(io, parse, await action(client.GetGrain<IWebhookGrain>(0), parse.GetValue(name)!.Trim()))));
        return command;
    }

    /// <summary>The URL's host (letters, digits, '-') and four random hex digits: <c>hooks-example-com-3fa2</c>.</summary>
    private static string DefaultHookName(string url)
    {
        var host = Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.Host : "hook";
        var clean = new string(host.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        return $"{(clean.Length == 0 ? "hook" : clean[..Math.Min(clean.Length, 50)])}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2))}";
    }
}
