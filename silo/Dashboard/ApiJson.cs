using System.Text.Json;
using System.Text.Json.Serialization;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary>The API's JSON, by source generation: snake_case names, enums by name (what the dashboard page reads).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(ClusterView))]
[JsonSerializable(typeof(RunsPage))]
[JsonSerializable(typeof(RunView))]
[JsonSerializable(typeof(JobsPage))]
[JsonSerializable(typeof(MetricsView))]
[JsonSerializable(typeof(JobLogPage))]
[JsonSerializable(typeof(JobDetail))]
[JsonSerializable(typeof(SubmitResult))]
[JsonSerializable(typeof(CommandResult))]
[JsonSerializable(typeof(ScheduleView))]
[JsonSerializable(typeof(IReadOnlyList<ScheduleView>))]
[JsonSerializable(typeof(IReadOnlyList<TraitResultRow>))]
[JsonSerializable(typeof(IReadOnlyList<ArtifactInfo>))]
[JsonSerializable(typeof(IReadOnlyList<ModelView>))]
[JsonSerializable(typeof(IReadOnlyList<PromotionDecision>))]
[JsonSerializable(typeof(IReadOnlyList<SearchListItem>))]
[JsonSerializable(typeof(SearchView))]
[JsonSerializable(typeof(SearchCreated))]
public sealed partial class ApiJson : JsonSerializerContext;
