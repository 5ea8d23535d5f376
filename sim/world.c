/*
 * world.c - the built-in places and the RTT model (see world.h).
 *
 * Coordinates are of the metropolitan areas where large cloud and CDN
 * points of presence sit, rounded to 0.01 degree, as given by Wikipedia's
 * city articles (GeoNames agrees to the second decimal). They stand for
 * the data centres of the region, not for exact buildings.
 */
#include "world.h"

#include <math.h>
#include <strings.h>

const sim_place_t sim_places[] = {
    {"ashburn", "US", 39.04, -77.49},      {"newyork", "US", 40.71, -74.01},
    {"chicago", "US", 41.88, -87.63},      {"dallas", "US", 32.78, -96.80},
    {"losangeles", "US", 34.05, -118.24},  {"sanjose", "US", 37.34, -121.89},
    {"seattle", "US", 47.61, -122.33},     {"toronto", "CA", 43.65, -79.38},
    {"mexicocity", "MX", 19.43, -99.13},   {"saopaulo", "BR", -23.55, -46.63},
    {"buenosaires", "AR", -34.60, -58.38}, {"santiago", "CL", -33.45, -70.67},
    {"london", "GB", 51.51, -0.13},        {"paris", "FR", 48.86, 2.35},
    {"frankfurt", "DE", 50.11, 8.68},      {"amsterdam", "NL", 52.37, 4.90},
    {"stockholm", "SE", 59.33, 18.07},     {"madrid", "ES", 40.42, -3.70},
    {"warsaw", "PL", 52.23, 21.01},        {"istanbul", "TR", 41.01, 28.98},
    {"dubai", "AE", 25.20, 55.27},         {"mumbai", "IN", 19.08, 72.88},
    {"singapore", "SG", 1.35, 103.82},     {"hongkong", "HK", 22.32, 114.17},
    {"tokyo", "JP", 35.68, 139.69},        {"seoul", "KR", 37.57, 126.98},
    {"sydney", "AU", -33.87, 151.21},      {"johannesburg", "ZA", -26.20, 28.05},
    {"lagos", "NG", 6.52, 3.38},           {"cairo", "EG", 30.04, 31.24},
};
const size_t sim_nplaces = sizeof sim_places / sizeof sim_places[0];

int sim_place_find(const char *name)
{
    for (size_t i = 0; i < sim_nplaces; i++)
        if (strcasecmp(sim_places[i].name, name) == 0)
            return (int)i;
    return -1;
}

double sim_haversine_km(double lat1, double lon1, double lat2, double lon2)
{
    const double r = 6371.0, rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * r * asin(sqrt(a < 1 ? a : 1));
}

void sim_rtt_model_default(sim_rtt_model_t *m)
{
    m->fibre_km_per_ms = 200.0;
    m->inflation = 1.5;
    m->hop_ms = 2.0;
}

double sim_rtt_ms(const sim_rtt_model_t *m, int a, int b)
{
    const sim_place_t *p = &sim_places[a], *q = &sim_places[b];
    double km = sim_haversine_km(p->lat, p->lon, q->lat, q->lon);
    return 2.0 * km / m->fibre_km_per_ms * m->inflation + m->hop_ms;
}
