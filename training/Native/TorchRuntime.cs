using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace PunkGrid.Training.Native;

/// <summary>
/// Makes TorchSharp's native library loadable on this platform and picks the compute device.
/// <para>
/// TorchSharp 0.107.0's <c>libLibTorchSharp.so</c> declares a need for <c>GLIBCXX_3.4.32</c> (GCC 13) for
/// <c>std::ios_base_library_init</c>, a symbol no relocation refers to. Debian 12's libstdc++ (GCC 12)
/// lacks that version, so the loader refuses the library. When — and only when — the system libstdc++
/// lacks it, a copy of the library with that one need marked weak is written to a cache folder and
/// served to TorchSharp through a DllImport resolver. The NuGet cache is never modified.
/// </para>
/// </summary>
public static partial class TorchRuntime
{
    /// <summary>The version need that the system may lack.</summary>
    public const string MissingVersion = "GLIBCXX_3.4.32";

    private const string ProbeSymbol = "_ZSt21ios_base_library_initv";
    private const string NativeLibraryFile = "libLibTorchSharp.so";
    private static readonly Lock Gate = new();
    private static bool initialized;
    private static string? patchedLibraryPath;

    /// <summary>The patched library that is served instead of TorchSharp's own, or null when none is needed.</summary>
    public static string? PatchedLibraryPath
    {
        get { lock (Gate) { return patchedLibraryPath; } }
    }

    /// <summary>Prepares the native library once per process. Safe to call from any thread, any number of times.</summary>
    public static void EnsureInitialized(ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        lock (Gate)
        {
            if (initialized)
            {
                return;
            }
            if (OperatingSystem.IsLinux() && !SystemLibStdCxxHas(MissingVersion))
            {
                var original = FindNativeLibrary()
                    ?? throw new DllNotFoundException(
                        $"{NativeLibraryFile} was not found next to the application or in its native search directories " +
                        $"({string.Join(", ", NativeSearchDirectories())}); is the libtorch backend package referenced?");
                patchedLibraryPath = PreparePatchedCopy(original, CacheDirectory(), logger);
                PreloadTorchDependencies(Path.GetDirectoryName(original)!);
                // TorchSharp's own loader calls NativeLibrary.TryLoad(name, assembly), which does not consult
                // DllImport resolvers; with the copy already loaded, its by-name probe finds it by soname.
                NativeLibrary.Load(patchedLibraryPath);
                NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, ResolveTorchSharpNative);
                LogPatchedLibrary(logger, MissingVersion, NativeLibraryFile, patchedLibraryPath);
            }
            LogNativeMemory(logger, NativeMemoryTuning.Status);
            initialized = true;
        }
        torch.InitializeDeviceType(DeviceType.CPU);
    }

    private static readonly Lock SeededCreation = new();

    /// <summary>
    /// Builds models under <c>manual_seed(seed)</c> while no other job does the same: libtorch's initialisers draw
    /// from its process-wide generator, which concurrent jobs in one worker would otherwise interleave. Everything
    /// random after construction (batch order, noise, dropout) comes from generators the trainers own.
    /// </summary>
    public static T CreateSeeded<T>(long seed, Func<T> create)
    {
        EnsureInitialized();
        lock (SeededCreation)
        {
            torch.manual_seed(seed);
            return create();
        }
    }

    /// <summary>
    /// Sets libtorch's intra-op threads for work started from the calling thread (OpenMP keeps the setting per
    /// thread), so jobs on several threads of one worker share the cores instead of each taking all of them.
    /// </summary>
    public static void SetThreadsForCurrentThread(int threads)
    {
        EnsureInitialized();
        torch.set_num_threads(Math.Max(1, threads));
    }

    /// <summary>
    /// Resolves a device request: <c>auto</c> (or empty) is <c>cuda</c> when CUDA is available, else <c>cpu</c>;
    /// <c>cpu</c>, <c>cuda</c> and <c>cuda:N</c> are taken as asked, after checking they exist.
    /// </summary>
    public static torch.Device ResolveDevice(string? requested)
    {
        EnsureInitialized();
        var value = string.IsNullOrWhiteSpace(requested) ? "auto" : requested.Trim().ToLowerInvariant();
        if (value == "auto")
        {
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }
        if (value == "cpu")
        {
            return torch.CPU;
        }
        if (value == "cuda" || value.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
            {
                throw new ArgumentException(
                    $"device '{requested}' was asked for, but CUDA is not available in this process " +
                    "(CPU build or no GPU); allowed here: auto, cpu");
            }
            var index = value == "cuda" ? 0 : ParseIndex(value[5..], requested!);
            var count = torch.cuda.device_count();
            if (index >= count)
            {
                throw new ArgumentException($"device '{requested}' does not exist: {count} CUDA device(s), cuda:0..cuda:{count - 1}");
            }
            return new torch.Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"unknown device '{requested}'; allowed: auto, cpu, cuda, cuda:N");
    }

    private static int ParseIndex(string text, string requested) =>
        int.TryParse(text, out var index) && index >= 0
            ? index
            : throw new ArgumentException($"device '{requested}' has a bad index; allowed: auto, cpu, cuda, cuda:N");

    /// <summary>Whether the libstdc++ that this process would load has the version TorchSharp declares (probed by its one symbol).</summary>
    public static bool SystemLibStdCxxHas(string version) => SystemLibStdCxxExports(ProbeSymbol, version);

    /// <summary>Whether the libstdc++ that this process would load exports <paramref name="symbol"/> at <paramref name="version"/>.</summary>
    public static bool SystemLibStdCxxExports(string symbol, string version) =>
        NativeLibrary.TryLoad("libstdc++.so.6", out var handle) && DlVSym(handle, symbol, version) != IntPtr.Zero;

    [LibraryImport("libc", EntryPoint = "dlvsym", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr DlVSym(IntPtr handle, string symbol, string version);

    private static IntPtr ResolveTorchSharpNative(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        var path = patchedLibraryPath;
        if (path is not null && (libraryName is "LibTorchSharp" or "libLibTorchSharp" or NativeLibraryFile))
        {
            return NativeLibrary.Load(path);
        }
        return IntPtr.Zero;
    }

    /// <summary>
    /// Writes (once, atomically) a copy of <paramref name="original"/> with the missing version need marked weak,
    /// keyed by the original's SHA-256 so a new TorchSharp gets a new copy. Returns the copy's path.
    /// </summary>
    public static string PreparePatchedCopy(string original, string cacheDirectory, ILogger? logger = null)
    {
        var bytes = File.ReadAllBytes(original);
        var key = Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
        var directory = Path.Combine(cacheDirectory, key);
        var target = Path.Combine(directory, NativeLibraryFile);
        if (File.Exists(target))
        {
            return target;
        }
        var changed = ElfVersionNeedPatcher.MarkWeak(bytes, MissingVersion);
        LogMarkedWeak(logger ?? NullLogger.Instance, changed, MissingVersion, original);
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{NativeLibraryFile}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, target, overwrite: true);
        return target;
    }

    private static string CacheDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("PUNKGRID_NATIVE_CACHE");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrWhiteSpace(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "punkgrid", "torchsharp-native");
    }

    private static IEnumerable<string> NativeSearchDirectories()
    {
        var fromHost = (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") as string ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var torchSharpDirectory = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;
        return fromHost
            .Append(AppContext.BaseDirectory)
            .Append(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"))
            .Append(Path.Combine(torchSharpDirectory, "runtimes", "linux-x64", "native"))
            .Distinct();
    }

    /// <summary>TorchSharp's own <c>libLibTorchSharp.so</c>, as the host's native search directories find it.</summary>
    public static string? FindNativeLibrary() =>
        NativeSearchDirectories().Select(d => Path.Combine(d, NativeLibraryFile)).FirstOrDefault(File.Exists);

    /// <summary>
    /// The patched copy lives in another folder, so its <c>$ORIGIN</c> run path no longer finds libtorch.
    /// Loading libtorch by full path first lets the loader match the copy's needs by soname.
    /// </summary>
    private static void PreloadTorchDependencies(string originalDirectory)
    {
        string[] directories = [originalDirectory, .. NativeSearchDirectories()];
        foreach (var library in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            var path = directories.Select(d => Path.Combine(d, library)).FirstOrDefault(File.Exists);
            if (path is not null)
            {
                NativeLibrary.Load(path);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "System libstdc++ lacks {Version}: serving patched {Library} from {Path}")]
    private static partial void LogPatchedLibrary(ILogger logger, string version, string library, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Native memory: {Status}")]
    private static partial void LogNativeMemory(ILogger logger, string status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Marked {Count} need(s) of {Version} weak in {Library}")]
    private static partial void LogMarkedWeak(ILogger logger, int count, string version, string library);
}
