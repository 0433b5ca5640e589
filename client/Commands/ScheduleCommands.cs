namespace PunkGrid.Client;

/// <summary><c>punkgrid schedule add|list|pause|resume|remove</c>: scheduled retraining, fired by the cluster's reminders.</summary>
public static partial class PunkGridCommandLine
{
    private static Command ScheduleCommand(Io io)
    {
        var schedule = new Command("schedule", "Scheduled retraining: cron schedules that submit a run on the cluster.");

        var add = new Command("add", "Add a schedule: punkgrid schedule add --name nightly --cron \"0 3 * * *\" [--time-zone Europe/Berlin] -- traits --all --profile seed");
        var name = new Option<string>("--name") { Description = "The schedule's name; its runs are NAME-yyyyMMdd-HHmmss.", Required = true };
        var cron = new Option<string>("--cron") { Description = "5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first.", Required = true };
        var zone = new Option<string>("--time-zone") { Description = "IANA time zone the cron is read in.", DefaultValueFactory = _ => "UTC" };
        var run = new Argument<string[]>("run") { Description = "After --: the run, as `punkgrid submit` takes it (traits --all --profile seed, vae --epochs 5, …).", Arity = ArgumentArity.OneOrMore };
        add.Options.Add(name);
        add.Options.Add(cron);
        add.Options.Add(zone);
        add.Options.Add(JsonOption);
        add.Arguments.Add(run);
        add.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var spec = await ParseScheduledRunAsync(parse.GetValue(run) ?? [], io, cancellation);
            var result = await client.GetGrain<IScheduleGrain>(parse.GetValue(name)!.Trim()).Add(new ScheduleSpec(parse.GetValue(cron)!, parse.GetValue(zone)!, spec));
            return await Report(io, parse, result);
        }));
        schedule.Subcommands.Add(add);

        var list = new Command("list", "The schedules: cron, time zone, state, next firing, last run and what it did.");
        list.Options.Add(JsonOption);
        list.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var schedules = await client.GetGrain<IScheduleCatalogGrain>(0).List();
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, schedules, CliJson.Default.IReadOnlyListScheduleView);
            }
            var table = new Table().AddColumns("name", "cron", "time zone", "state", "run", "next firing", "last run", "last outcome");
            foreach (var s in schedules)
            {
                var what = $"{s.Run.Kind} {(s.Run.AllTargets ? "all" : string.Join(',', s.Run.Targets))} ({s.Run.Profile})".Replace("  ", " ", StringComparison.Ordinal);
                table.AddRow(Markup.Escape(s.Name), Markup.Escape(s.Cron), Markup.Escape(s.TimeZone), s.Paused ? "paused" : "active", Markup.Escape(what),
                    s.NextFireAt?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "", Markup.Escape(s.LastRunId ?? ""), Markup.Escape(s.LastOutcome ?? ""));
            }
            io.Console.Write(table);
            return 0;
        }));
        schedule.Subcommands.Add(list);

        schedule.Subcommands.Add(ScheduleVerb("pause", "Stop firing (a running run is not touched).", (grain) => grain.SetPaused(true), io));
        schedule.Subcommands.Add(ScheduleVerb("resume", "Fire again from the next due time (firings due while paused are skipped).", (grain) => grain.SetPaused(false), io));
        schedule.Subcommands.Add(ScheduleVerb("remove", "Delete the schedule (its runs are kept).", (grain) => grain.Remove(), io));
        return schedule;
    }

    private static Command ScheduleVerb(string verb, string description, Func<IScheduleGrain, Task<CommandResult>> action, Io io)
    {
        var command = new Command(verb, description);
        var name = new Argument<string>("name") { Description = "The schedule." };
        command.Arguments.Add(name);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
            await Report(io, parse, await action(client.GetGrain<IScheduleGrain>(parse.GetValue(name)!.Trim())))));
        return command;
    }

    private static async Task<int> Report(Io io, ParseResult parse, CommandResult result)
    {
        if (!result.Ok)
        {
            throw new UsageException(result.Message);
        }
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, result, CliJson.Default.CommandResult);
        }
        io.Console.MarkupLine(Markup.Escape(result.Message));
        return 0;
    }

    /// <summary>The words after <c>--</c> parsed by the same <c>submit</c> command a user runs, capturing the run instead of submitting it.</summary>
    private static async Task<RunSpec> ParseScheduledRunAsync(string[] words, Io io, CancellationToken cancellation)
    {
        RunSpec? captured = null;
        var submit = SubmitCommand(io, (parse, _, build) =>
        {
            var (runId, spec) = build();
            if (runId is not null || parse.GetValue<bool>("--watch"))
            {
                throw new UsageException("--run-id and --watch do not apply to a schedule: its runs are named NAME-yyyyMMdd-HHmmss");
            }
            captured = spec;
            return Task.FromResult(0);
        });
        var parsed = submit.Parse(words);
        if (parsed.Errors.Count > 0 || words.Length == 0)
        {
            var reasons = parsed.Errors.Count > 0 ? string.Join("; ", parsed.Errors.Select(e => e.Message)) : "no run given";
            throw new UsageException($"the run after -- is not a valid `submit` line ({reasons}); e.g. -- traits --all --profile seed");
        }
        await parsed.InvokeAsync(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false }, cancellation);
        return captured ?? throw new UsageException("the run after -- names no kind: traits, vae, gan or pokemon");
    }
}
