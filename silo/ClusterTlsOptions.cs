using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace PunkGrid.Silo;

/// <summary>The cluster's mutual TLS as configured (<c>PunkGrid:Tls</c>): the certificates' folder, or the explicit insecure flag.</summary>
public sealed class ClusterTlsOptions
{
    public const string Section = "PunkGrid:Tls";

    /// <summary>The folder with <c>ca.crt</c> and <c>silo.pfx</c> (made by <c>silo tls create</c>).</summary>
    public string? Directory { get; set; }

    /// <summary>Plain TCP between silos and clients: anyone who reaches the ports can drive the cluster.</summary>
    public bool Insecure { get; set; }

    /// <summary>
    /// Binds the section and loads the silo's credentials now; null only when <see cref="Insecure"/> is set. A missing folder,
    /// file or key is an <see cref="OptionsValidationException"/> naming it.
    /// </summary>
    public static ClusterTls.SiloCredentials? Load(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<ClusterTlsOptions>() ?? new ClusterTlsOptions();
        try
        {
            return ClusterTls.Credentials(options);
        }
        catch (ArgumentException ex)
        {
            throw new OptionsValidationException(Section, typeof(ClusterTlsOptions), [ex.Message]);
        }
    }
}
