"""Hand-written vocabulary of a food-service wholesaler: what it sells, to whom, and where.

Plain data only; ``world.py`` turns it into customers and products. The numbers are
judgement calls meant to give a recommender visible structure (who buys what, when).
"""

from __future__ import annotations

# segment -> (share of customers, company-name nouns)
SEGMENTS: dict[str, tuple[float, tuple[str, ...]]] = {
    "restaurant": (0.34, ("Trattoria", "Bistro", "Restaurant", "Grill", "Brasserie", "Kitchen", "Osteria")),
    "cafe": (0.18, ("Café", "Coffee House", "Espresso Bar", "Tea Room", "Roastery")),
    "bakery": (0.14, ("Bakery", "Bäckerei", "Patisserie", "Konditorei", "Bread Co.")),
    "hotel": (0.12, ("Hotel", "Inn", "Resort", "Suites", "Guesthouse")),
    "catering": (0.12, ("Catering", "Events", "Canteen Services", "Party Service")),
    "retail": (0.10, ("Market", "Deli", "Grocers", "Feinkost", "Corner Shop")),
}

NAME_PREFIXES: tuple[str, ...] = (
    "Bella",
    "Golden",
    "Blue Harbor",
    "Old Town",
    "Green Leaf",
    "Sunrise",
    "Am Markt",
    "Zur Linde",
    "Le Petit",
    "Casa",
    "Nordlicht",
    "Silver Spoon",
    "Rosengarten",
    "Alpen",
    "Little Italy",
    "Maple",
    "Seaside",
    "Royal",
    "Urban",
    "Lindenhof",
    "Da Mario",
    "Fritz",
    "Hanse",
    "Kaiser",
    "Crown",
    "Riverside",
    "Stadtmitte",
    "Elbe",
    "Rhein",
    "Sonnenschein",
    "Happy Bean",
    "Gute Stube",
    "Olive",
    "Saffron",
    "Pepper",
    "Tulip",
    "Amber",
    "Oak",
    "Harvest",
    "Fjord",
    "Bavaria",
    "Café Central",
)

# city -> (relative number of customers, coastal?)
CITIES: dict[str, tuple[float, bool]] = {
    "Berlin": (3.7, False),
    "Hamburg": (1.9, True),
    "München": (1.5, False),
    "Köln": (1.1, False),
    "Frankfurt am Main": (0.76, False),
    "Stuttgart": (0.63, False),
    "Düsseldorf": (0.62, False),
    "Leipzig": (0.6, False),
    "Dortmund": (0.59, False),
    "Essen": (0.58, False),
    "Bremen": (0.57, True),
    "Dresden": (0.56, False),
    "Hannover": (0.54, False),
    "Nürnberg": (0.52, False),
    "Duisburg": (0.5, False),
    "Bochum": (0.36, False),
    "Bonn": (0.33, False),
    "Münster": (0.32, False),
    "Kiel": (0.25, True),
    "Rostock": (0.21, True),
    "Lübeck": (0.22, True),
    "Freiburg im Breisgau": (0.23, False),
}

# category -> subcategory -> [(base item, reference price in EUR, pack sizes)]
# The price is for the first pack size; bigger packs scale sub-linearly.
CATALOG: dict[str, dict[str, list[tuple[str, float, tuple[str, ...]]]]] = {
    "Coffee & Tea": {
        "Coffee Beans": [
            ("Arabica Coffee Beans", 14.9, ("1kg", "500g", "6kg")),
            ("Espresso Roast Beans", 16.5, ("1kg", "500g")),
            ("Decaf Coffee Beans", 17.9, ("1kg", "500g")),
        ],
        "Ground Coffee": [
            ("Filter Coffee Ground", 9.8, ("1kg", "500g", "5kg")),
            ("Café Crema Ground", 11.2, ("1kg", "500g")),
        ],
        "Tea": [
            ("Earl Grey Tea Bags", 6.4, ("100 pcs", "250 pcs")),
            ("Green Tea Sencha", 8.9, ("100 pcs", "500g")),
            ("Peppermint Tea Bags", 5.2, ("100 pcs", "250 pcs")),
            ("Chai Latte Powder", 12.5, ("1kg", "2.5kg")),
        ],
        "Coffee Accessories": [
            ("Coffee Filter Papers", 4.1, ("1000 pcs", "250 pcs")),
            ("Sugar Sticks", 7.9, ("1000 pcs", "500 pcs")),
            ("Coffee Syrup Vanilla", 6.9, ("700ml", "1L")),
        ],
    },
    "Dairy": {
        "Milk & Cream": [
            ("Whole Milk 3.5%", 1.2, ("1L", "10L")),
            ("Barista Oat Drink", 2.3, ("1L",)),
            ("Whipping Cream 30%", 4.6, ("1L", "5L")),
            ("Crème fraîche", 9.5, ("1kg", "5L")),
        ],
        "Butter": [
            ("Unsalted Butter", 7.9, ("1kg", "250g", "10kg")),
            ("Butter Sheets for Pastry", 11.5, ("2kg", "10kg")),
        ],
        "Cheese": [
            ("Mozzarella Fior di Latte", 8.4, ("1kg", "2.5kg")),
            ("Parmigiano Reggiano", 21.9, ("1kg", "5kg")),
            ("Emmentaler Slices", 10.9, ("1kg", "500g")),
            ("Brie de Meaux", 15.8, ("1kg",)),
            ("Feta in Brine", 9.7, ("1kg", "2kg")),
        ],
        "Yoghurt & Quark": [
            ("Greek Yoghurt 10%", 5.9, ("1kg", "5kg")),
            ("Quark 20%", 3.9, ("1kg", "5kg")),
            ("Mascarpone", 6.8, ("500g", "2kg")),
        ],
    },
    "Bakery Ingredients": {
        "Flour": [
            ("Wheat Flour Type 550", 12.9, ("25kg", "10kg")),
            ("Rye Flour Type 1150", 14.5, ("25kg", "10kg")),
            ("Spelt Flour Type 630", 18.9, ("25kg", "5kg")),
            ("Pizza Flour Tipo 00", 19.5, ("25kg", "10kg")),
        ],
        "Sugar & Sweeteners": [
            ("Caster Sugar", 1.4, ("1kg", "25kg")),
            ("Icing Sugar", 1.9, ("1kg", "10kg")),
            ("Glucose Syrup", 6.2, ("3kg", "7kg")),
        ],
        "Baking Aids": [
            ("Fresh Yeast", 2.9, ("1kg", "500g")),
            ("Baking Powder", 5.5, ("1kg", "5kg")),
            ("Vanilla Extract", 18.5, ("250ml", "1L")),
        ],
        "Chocolate & Fillings": [
            ("Dark Couverture 70%", 24.9, ("2.5kg", "5kg")),
            ("Hazelnut Praliné Filling", 19.9, ("5kg",)),
            ("Cocoa Powder", 11.5, ("1kg",)),
        ],
    },
    "Meat & Poultry": {
        "Poultry": [
            ("Chicken Breast Fillet", 8.9, ("1kg", "5kg")),
            ("Chicken Wings", 5.9, ("2.5kg", "5kg")),
            ("Duck Breast", 18.9, ("1kg",)),
        ],
        "Beef & Veal": [
            ("Beef Rump Steak", 29.9, ("1kg",)),
            ("Ground Beef", 9.9, ("1kg", "5kg")),
            ("Veal Escalope", 34.5, ("1kg",)),
        ],
        "Pork & Cured": [
            ("Pork Loin", 9.5, ("1kg", "5kg")),
            ("Smoked Bacon Slices", 11.9, ("1kg", "500g")),
            ("Prosciutto di Parma", 27.5, ("1kg", "500g")),
            ("Bratwurst", 8.5, ("1kg", "3kg")),
        ],
    },
    "Fish & Seafood": {
        "Fresh Fish": [
            ("Salmon Fillet", 24.9, ("1kg", "3kg")),
            ("Cod Loin", 21.5, ("1kg",)),
            ("Sea Bass Whole", 18.9, ("1kg",)),
        ],
        "Frozen Seafood": [
            ("Shrimp 16/20 Peeled", 19.9, ("1kg", "5kg")),
            ("Calamari Rings", 11.9, ("1kg", "2.5kg")),
            ("Mussels in Shell", 7.9, ("1kg", "5kg")),
        ],
        "Smoked & Preserved": [
            ("Smoked Salmon Slices", 29.9, ("500g", "1kg")),
            ("Tuna in Olive Oil", 5.9, ("400g", "1.7kg")),
            ("Anchovy Fillets", 9.9, ("200g", "1kg")),
        ],
    },
    "Fruit & Vegetables": {
        "Fresh Vegetables": [
            ("Vine Tomatoes", 3.2, ("1kg", "6kg")),
            ("Red Onions", 1.6, ("1kg", "10kg")),
            ("Baby Spinach", 6.5, ("500g", "1kg")),
            ("Potatoes Waxy", 1.1, ("2.5kg", "12.5kg")),
            ("Jalapeño Peppers", 7.9, ("1kg",)),
        ],
        "Fresh Fruit": [
            ("Lemons", 2.8, ("1kg", "5kg")),
            ("Strawberries", 7.5, ("1kg", "2.5kg")),
            ("Bananas", 1.9, ("1kg", "18kg")),
            ("Avocados Hass", 11.9, ("2kg", "4kg")),
        ],
        "Herbs": [
            ("Fresh Basil", 3.9, ("100g", "500g")),
            ("Flat Parsley", 2.4, ("250g", "1kg")),
            ("Rosemary", 3.2, ("100g",)),
        ],
        "Frozen Vegetables": [
            ("French Fries 10mm", 2.9, ("2.5kg", "10kg")),
            ("Peas Frozen", 2.4, ("2.5kg",)),
            ("Mixed Berries Frozen", 8.9, ("1kg", "2.5kg")),
        ],
    },
    "Dry Goods": {
        "Pasta & Rice": [
            ("Spaghetti No. 5", 2.1, ("1kg", "5kg")),
            ("Penne Rigate", 2.1, ("1kg", "5kg")),
            ("Basmati Rice", 3.4, ("1kg", "5kg", "10kg")),
            ("Arborio Risotto Rice", 4.8, ("1kg", "5kg")),
        ],
        "Oils & Vinegar": [
            ("Extra Virgin Olive Oil", 11.9, ("1L", "5L")),
            ("Sunflower Frying Oil", 3.1, ("1L", "10L")),
            ("Balsamic Vinegar of Modena", 7.5, ("500ml", "5L")),
        ],
        "Canned & Sauces": [
            ("Peeled Tomatoes", 2.2, ("2.5kg", "400g")),
            ("Tomato Passata", 1.9, ("700g", "5kg")),
            ("Mayonnaise 80%", 6.9, ("1L", "5L")),
            ("Ketchup", 4.9, ("1L", "5kg")),
        ],
        "Spices": [
            ("Sea Salt Fine", 0.9, ("1kg", "5kg")),
            ("Black Pepper Whole", 18.9, ("1kg", "250g")),
            ("Paprika Sweet", 12.5, ("1kg",)),
            ("Curry Powder", 13.9, ("1kg",)),
        ],
        "Breakfast": [
            ("Müsli Crunchy", 6.9, ("2kg", "750g")),
            ("Strawberry Jam Portions", 14.9, ("100 pcs",)),
            ("Honey Portions", 15.9, ("100 pcs",)),
            ("Cornflakes", 5.4, ("2kg",)),
        ],
    },
    "Beverages": {
        "Soft Drinks": [
            ("Cola Glass Bottle", 0.9, ("0.33L", "1L")),
            ("Lemonade Organic", 1.2, ("0.33L",)),
            ("Orange Juice Fresh", 3.4, ("1L", "5L")),
            ("Apple Spritzer", 0.8, ("0.5L", "1L")),
        ],
        "Water": [
            ("Sparkling Mineral Water", 0.6, ("0.75L", "0.25L")),
            ("Still Mineral Water", 0.55, ("0.75L", "1.5L")),
        ],
        "Beer & Wine": [
            ("Pilsner Beer", 1.1, ("0.5L", "0.33L", "30L keg")),
            ("Wheat Beer", 1.2, ("0.5L",)),
            ("Riesling Dry", 7.9, ("0.75L",)),
            ("Prosecco DOC", 6.9, ("0.75L",)),
            ("Pinot Noir", 9.5, ("0.75L",)),
        ],
    },
    "Frozen Desserts": {
        "Ice Cream": [
            ("Vanilla Ice Cream", 14.9, ("5L", "2.5L")),
            ("Pistachio Gelato", 22.5, ("5L",)),
            ("Sorbet Lemon", 16.9, ("5L",)),
        ],
        "Frozen Pastry": [
            ("Butter Croissants Frozen", 24.9, ("60 pcs", "120 pcs")),
            ("Pain au Chocolat Frozen", 29.9, ("60 pcs",)),
            ("Apple Strudel Frozen", 24.9, ("2.5kg",)),
        ],
    },
    "Disposables": {
        "Napkins & Tissue": [
            ("Paper Napkins 33x33", 6.9, ("500 pcs", "2000 pcs")),
            ("Kitchen Roll", 1.9, ("8 rolls", "24 rolls")),
        ],
        "Takeaway": [
            ("Coffee Cups 300ml", 59.0, ("1000 pcs", "50 pcs")),
            ("Cup Lids", 32.0, ("1000 pcs",)),
            ("Kraft Meal Boxes", 59.0, ("300 pcs",)),
            ("Paper Bags Small", 24.0, ("1000 pcs",)),
        ],
        "Gloves & Film": [
            ("Nitrile Gloves M", 9.9, ("100 pcs",)),
            ("Cling Film 300m", 12.9, ("1 roll", "6 rolls")),
            ("Aluminium Foil 150m", 14.5, ("1 roll",)),
        ],
    },
    "Cleaning & Hygiene": {
        "Dishwashing": [
            ("Dishwasher Detergent", 29.9, ("10L", "25kg")),
            ("Rinse Aid", 19.9, ("5L", "10L")),
            ("Hand Dish Soap", 6.9, ("5L", "1L")),
        ],
        "Surface & Floor": [("All-Purpose Cleaner", 8.9, ("5L", "1L")), ("Floor Degreaser", 14.9, ("10L",))],
        "Guest Amenities": [
            ("Shampoo Sachets", 49.0, ("500 pcs",)),
            ("Soap Bars Wrapped", 59.0, ("500 pcs",)),
            ("Toilet Paper 3-ply", 19.9, ("48 rolls", "72 rolls")),
        ],
    },
}

BRANDS: tuple[str, ...] = (
    "Nordhaven",
    "Casa Verde",
    "Maison Duval",
    "Golden Field",
    "Alpenhof",
    "Bella Cucina",
    "Hanseatic",
    "Green Valley",
    "Premio",
    "Old Mill",
    "Seeblick",
    "La Tavola",
    "Sonnenhof",
    "Royal Crest",
    "Fjordkyst",
    "Gastro Line",
    "Chef's Choice",
    "Bäckerstolz",
    "Terra Nostra",
    "Blue Coast",
    "Pure Origin",
    "Kuchenmeister",
    "Rheinland",
    "Bio Garten",
    "Atlantic",
    "Mediterraneo",
    "Harvest Moon",
    "Bergkäserei",
    "Kaffeekontor",
    "Stadtküche",
    "ProClean",
    "EcoServe",
    "Gourmet Select",
    "Landliebe Hof",
    "Vita Fresca",
    "Crown Foods",
    "Heimatgut",
    "Dolce Vita",
    "Linden",
    "Eastbrook",
    "Silberblick",
    "Nordsee",
    "Oliveto",
    "Wildblume",
    "Campo Real",
    "Le Fournil",
    "Granja",
    "Brauhaus Eck",
    "Montagne",
    "Delizia",
    "Grüner Zweig",
    "Bravo",
    "Lighthouse",
    "Urquell",
    "Saveur",
    "Kornkammer",
    "Aurora",
    "Weidenhof",
    "Trinacria",
    "Polar",
)

QUALIFIERS: tuple[str, ...] = ("", "Organic", "Premium")

# segment -> category -> taste multiplier (1.0 = neutral). Missing = 1.0.
SEGMENT_TASTES: dict[str, dict[str, float]] = {
    "restaurant": {
        "Meat & Poultry": 3.0,
        "Fish & Seafood": 2.2,
        "Fruit & Vegetables": 2.6,
        "Dry Goods": 2.2,
        "Dairy": 1.3,
        "Beverages": 1.4,
        "Coffee & Tea": 0.5,
        "Bakery Ingredients": 0.4,
        "Frozen Desserts": 0.8,
        "Cleaning & Hygiene": 0.8,
        "Disposables": 0.6,
    },
    "cafe": {
        "Coffee & Tea": 4.5,
        "Dairy": 2.2,
        "Disposables": 2.5,
        "Frozen Desserts": 1.8,
        "Beverages": 1.3,
        "Meat & Poultry": 0.3,
        "Fish & Seafood": 0.2,
        "Dry Goods": 0.6,
        "Bakery Ingredients": 0.6,
        "Fruit & Vegetables": 0.6,
    },
    "bakery": {
        "Bakery Ingredients": 6.0,
        "Dairy": 2.6,
        "Frozen Desserts": 1.2,
        "Coffee & Tea": 1.0,
        "Disposables": 1.3,
        "Meat & Poultry": 0.2,
        "Fish & Seafood": 0.1,
        "Beverages": 0.4,
        "Fruit & Vegetables": 0.7,
        "Dry Goods": 0.5,
    },
    "hotel": {
        "Cleaning & Hygiene": 3.5,
        "Beverages": 2.4,
        "Dry Goods": 1.6,
        "Dairy": 1.5,
        "Coffee & Tea": 1.6,
        "Frozen Desserts": 1.3,
        "Meat & Poultry": 1.0,
        "Disposables": 0.7,
        "Bakery Ingredients": 0.4,
    },
    "catering": {
        "Meat & Poultry": 2.4,
        "Disposables": 3.0,
        "Fruit & Vegetables": 1.8,
        "Dry Goods": 1.8,
        "Beverages": 1.5,
        "Fish & Seafood": 1.0,
        "Bakery Ingredients": 0.5,
        "Coffee & Tea": 0.8,
    },
    "retail": {
        "Dry Goods": 2.6,
        "Beverages": 2.6,
        "Dairy": 1.8,
        "Coffee & Tea": 1.6,
        "Frozen Desserts": 1.4,
        "Cleaning & Hygiene": 0.7,
        "Disposables": 0.3,
        "Meat & Poultry": 0.7,
        "Bakery Ingredients": 0.3,
    },
}

# subcategory tweaks on top of the segment's category taste (segment -> subcategory -> multiplier)
SUBCATEGORY_TASTES: dict[str, dict[str, float]] = {
    "restaurant": {"Herbs": 2.5, "Oils & Vinegar": 2.0, "Beer & Wine": 2.5, "Guest Amenities": 0.05},
    "cafe": {
        "Coffee Accessories": 2.5,
        "Milk & Cream": 2.5,
        "Takeaway": 2.5,
        "Frozen Pastry": 3.0,
        "Guest Amenities": 0.05,
        "Beer & Wine": 0.3,
    },
    "bakery": {"Butter": 3.0, "Flour": 3.0, "Takeaway": 2.0, "Cheese": 0.4, "Guest Amenities": 0.05},
    "hotel": {"Guest Amenities": 5.0, "Breakfast": 4.0, "Frozen Pastry": 2.5, "Beer & Wine": 1.8, "Takeaway": 0.2},
    "catering": {"Takeaway": 2.5, "Gloves & Film": 2.5, "Soft Drinks": 2.0, "Guest Amenities": 0.05},
    "retail": {"Soft Drinks": 2.0, "Water": 2.0, "Beer & Wine": 2.2, "Guest Amenities": 0.1, "Takeaway": 0.2},
}

# category seasonality: category -> (amplitude, day of year of the peak)
CATEGORY_SEASONS: dict[str, tuple[float, int]] = {
    "Frozen Desserts": (0.6, 200),
    "Beverages": (0.35, 190),
    "Fruit & Vegetables": (0.15, 180),
    "Bakery Ingredients": (0.35, 345),
    "Meat & Poultry": (0.12, 350),
    "Coffee & Tea": (0.2, 15),
}

COASTAL_BOOST: dict[str, float] = {"Fish & Seafood": 2.5}

# relative order volume per weekday (Monday first): wholesale is quiet at weekends
WEEKDAY_PROFILE: tuple[float, ...] = (1.25, 1.1, 1.05, 1.15, 1.0, 0.35, 0.08)
