using System.Text.Json.Serialization;

namespace PunkGrid.Client;

/// <summary>
/// What <c>--json</c> prints, serialized by source generation (no reflection): snake_case names, enums as their names,
/// indented for people and <c>jq</c> alike.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(SubmitResult))]
[JsonSerializable(typeof(CommandResult))]
[JsonSerializable(typeof(RunSummary))]
[JsonSerializable(typeof(JobDetail))]
[JsonSerializable(typeof(IReadOnlyList<RunSummary>))]
[JsonSerializable(typeof(IReadOnlyList<JobSummary>))]
[JsonSerializable(typeof(IReadOnlyList<WorkerView>))]
[JsonSerializable(typeof(IReadOnlyList<TraitResultRow>))]
[JsonSerializable(typeof(IReadOnlyList<ArtifactInfo>))]
[JsonSerializable(typeof(IReadOnlyList<ScheduleView>))]
[JsonSerializable(typeof(IReadOnlyList<TraitPrediction>))]
[JsonSerializable(typeof(IReadOnlyList<ClassPrediction>))]
[JsonSerializable(typeof(List<MetricPoint>))]
[JsonSerializable(typeof(RetentionReport))]
[JsonSerializable(typeof(WebhookAdded))]
[JsonSerializable(typeof(ModelView))]
[JsonSerializable(typeof(IReadOnlyList<ModelView>))]
[JsonSerializable(typeof(IReadOnlyList<ModelVersionView>))]
[JsonSerializable(typeof(IReadOnlyList<PromotionDecision>))]
[JsonSerializable(typeof(IReadOnlyList<WebhookView>))]
[JsonSerializable(typeof(IReadOnlyList<WebhookDelivery>))]
[JsonSerializable(typeof(Dictionary<string, IReadOnlyList<TraitResultRow>>))]
[JsonSerializable(typeof(SearchCreated))]
[JsonSerializable(typeof(SearchSummary))]
[JsonSerializable(typeof(IReadOnlyList<SearchListItem>))]
[JsonSerializable(typeof(IReadOnlyList<SearchTrialView>))]
[JsonSerializable(typeof(IReadOnlyList<SearchTargetSummary>))]
[JsonSerializable(typeof(IReadOnlyList<SearchDecisionView>))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>What <c>--json</c> prints one object per line (JSON Lines: <c>punkgrid logs --json</c>), unindented.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(JobLogLine))]
internal sealed partial class CliJsonLines : JsonSerializerContext;
